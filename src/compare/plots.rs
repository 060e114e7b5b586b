//! The comparison's figures, drawn with plotters into PNG files: learning curves (one panel
//! per task, mean and 95% CI band over seeds per method), gradient conflict (one panel per
//! multi-task method, the mean cosine similarity of each task pair's shared-weight gradients
//! over training; for runs that logged summaries, one panel per method and stage with the
//! quantiles of the pairs' cosines instead) and conflict frequency (the share of conflicting
//! updates and the mean `|cos|` over training, one line per method).

use std::ops::Range;
use std::path::Path;
use std::sync::Once;

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::conflict_summary::{self, SummaryCurves};
use super::conflicts;
use super::plan::Plan;
use super::stats;
use super::summary::{band, Summary, BINS};
use crate::config::Role;

/// The learning-curve figure's file name.
pub const LEARNING_CURVES: &str = "learning_curves.png";
/// The gradient-conflict figure's file name.
pub const GRADIENT_CONFLICT: &str = "gradient_conflict.png";
/// The conflict frequency and magnitude figure's file name.
pub const CONFLICT_FREQUENCY: &str = "conflict_frequency.png";

const PANEL: (u32, u32) = (640, 420);
/// Width of the legend column beside each gradient-conflict panel.
const LEGEND: u32 = 240;
/// Tableau 10, the palette of matplotlib's default cycle.
const COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

type PlotResult = Result<(), Box<dyn std::error::Error>>;

/// Draws the figures into `out`; returns the file names written (the conflict figure only
/// when some method shares weights between two or more tasks).
pub fn draw_all(out: &Path, plan: &Plan, summary: &Summary) -> anyhow::Result<Vec<&'static str>> {
    register_fonts();
    let fail = |name: &str, e: Box<dyn std::error::Error>| {
        anyhow::anyhow!("cannot draw {}: {e}", out.join(name).display())
    };
    learning_curves(&out.join(LEARNING_CURVES), plan, summary)
        .map_err(|e| fail(LEARNING_CURVES, e))?;
    let mut written = vec![LEARNING_CURVES];
    if summary.has_conflicts() {
        gradient_conflict(&out.join(GRADIENT_CONFLICT), plan, summary)
            .map_err(|e| fail(GRADIENT_CONFLICT, e))?;
        written.push(GRADIENT_CONFLICT);
        conflict_frequency(&out.join(CONFLICT_FREQUENCY), plan, summary)
            .map_err(|e| fail(CONFLICT_FREQUENCY, e))?;
        written.push(CONFLICT_FREQUENCY);
    }
    Ok(written)
}

fn register_fonts() {
    static FONTS: Once = Once::new();
    FONTS.call_once(|| {
        let fonts = [
            (FontStyle::Normal, dejavu::sans::regular()),
            (FontStyle::Bold, dejavu::sans::bold()),
        ];
        for (style, bytes) in fonts {
            plotters::style::register_font("sans-serif", style, bytes)
                .unwrap_or_else(|_| panic!("the embedded DejaVu Sans font is valid"));
        }
    });
}

/// `n` panels in a grid of at most three columns.
fn grid(n: usize) -> (usize, usize) {
    let cols = n.clamp(1, 3);
    (n.div_ceil(cols), cols)
}

/// The x of bin `k`: the end of its interval of the budget.
fn bin_x(plan: &Plan, k: usize) -> f64 {
    plan.budget as f64 * (k + 1) as f64 / BINS as f64
}

fn learning_curves(path: &Path, plan: &Plan, summary: &Summary) -> PlotResult {
    let (rows, cols) = grid(plan.tasks.len());
    let size = (PANEL.0 * cols as u32, PANEL.1 * rows as u32);
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((rows, cols));
    for (task, area) in plan.tasks.iter().zip(&panels) {
        let bands: Vec<(usize, Vec<(f64, f64)>)> = plan
            .methods
            .iter()
            .enumerate()
            .filter_map(|(i, m)| Some((i, band(&summary.cell(m, &task.name)?.binned))))
            .collect();
        let seen = plan
            .methods
            .iter()
            .filter_map(|m| summary.cell(m, &task.name))
            .flat_map(|c| c.binned.iter().flatten().copied());
        let y = y_range(seen, task.threshold);
        let title = match task.role {
            Role::Main => task.name.clone(),
            Role::Auxiliary => format!("{} (auxiliary)", task.name),
        };
        let span = y.end - y.start;
        let axes = Axes {
            x: "environment steps (this task)",
            y: Some("episodic return"),
            y_labels: 8,
            y_tick: &|y| y_tick(*y, span),
        };
        let mut chart = panel(area, &title, plan.budget, y, &axes)?;
        if let Some(th) = task.threshold {
            let style = ShapeStyle::from(&BLACK.mix(0.5)).stroke_width(1);
            chart
                .draw_series(DashedLineSeries::new(
                    [(0.0, th), (plan.budget as f64, th)],
                    6,
                    4,
                    style,
                ))?
                .label(format!("threshold {th}"))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], style));
        }
        for (i, band) in &bands {
            let color = COLORS[i % COLORS.len()];
            let points: Vec<(f64, f64, f64)> = band
                .iter()
                .enumerate()
                .filter(|(_, (m, _))| !m.is_nan())
                .map(|(k, &(m, h))| (bin_x(plan, k), m, if h.is_nan() { 0.0 } else { h }))
                .collect();
            let mut outline: Vec<(f64, f64)> = points.iter().map(|&(x, m, h)| (x, m + h)).collect();
            outline.extend(points.iter().rev().map(|&(x, m, h)| (x, m - h)));
            chart.draw_series(std::iter::once(Polygon::new(
                outline,
                color.mix(0.18).filled(),
            )))?;
            chart
                .draw_series(LineSeries::new(
                    points.iter().map(|&(x, m, _)| (x, m)),
                    color.stroke_width(2),
                ))?
                .label(plan.methods[*i].as_str())
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .label_font(("sans-serif", 14))
            .draw()?;
    }
    root.present()?;
    Ok(())
}

/// One panel of the gradient-conflict figure.
enum ConflictPanel<'s> {
    /// A method that logged every pair: one line per pair.
    PerPair(&'s String),
    /// A method's stage that logged summaries: the quantiles of its pairs' cosines.
    Quantiles(&'s String, &'s String, &'s [SummaryCurves]),
}

fn gradient_conflict(path: &Path, plan: &Plan, summary: &Summary) -> PlotResult {
    let mut panels = Vec::new();
    for method in summary.conflict_methods(&plan.methods) {
        if summary.cos_updates.contains_key(method) {
            panels.push(ConflictPanel::PerPair(method));
        }
        for (stage, seeds) in summary.cos_summaries.get(method).into_iter().flatten() {
            panels.push(ConflictPanel::Quantiles(method, stage, seeds));
        }
    }
    let (rows, cols) = grid(panels.len());
    let size = ((PANEL.0 + LEGEND) * cols as u32, PANEL.1 * rows as u32);
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((rows, cols));
    for (panel, area) in panels.iter().zip(&areas) {
        match panel {
            ConflictPanel::PerPair(method) => pair_lines(area, plan, summary, method)?,
            ConflictPanel::Quantiles(method, stage, seeds) => {
                quantile_bands(area, plan, method, stage, seeds)?
            }
        }
    }
    root.present()?;
    Ok(())
}

/// The cosine axis of a gradient-conflict panel: around `values` and ±0.1, within [-1, 1].
fn cos_axes(values: impl Iterator<Item = f64>) -> (Range<f64>, Axes<'static>) {
    let y = y_range(values.chain([-0.1, 0.1]), None);
    let y = y.start.max(-1.0)..y.end.min(1.0);
    let axes = Axes {
        x: "environment steps per task",
        y: Some("cos(g_a, g_b), mean over seeds"),
        y_labels: 11,
        y_tick: &|y| format!("{:.2}", if y.abs() < 0.005 { 0.0 } else { *y }),
    };
    (y, axes)
}

/// A method's panel with one line per task pair, the legend beside it.
fn pair_lines(area: &Area<'_>, plan: &Plan, summary: &Summary, method: &str) -> PlotResult {
    let pairs: Vec<(String, Vec<(f64, f64)>)> = summary.cos_updates[method]
        .iter()
        .map(|(pair, seeds)| {
            let binned: Vec<Vec<f64>> = (seeds.iter())
                .map(|curve| stats::binned(curve, plan.budget, BINS))
                .collect();
            let points = band(&binned)
                .iter()
                .enumerate()
                .filter(|(_, (m, _))| !m.is_nan())
                .map(|(k, &(m, _))| (bin_x(plan, k), m))
                .collect();
            (pair.replace("__", " / "), points)
        })
        .collect();
    let values = pairs.iter().flat_map(|(_, p)| p.iter().map(|&(_, y)| y));
    let (y, axes) = cos_axes(values);
    let (plot, legend) = area.split_horizontally(PANEL.0);
    let title = format!("{method}: gradient cosine similarity");
    let mut chart = panel(&plot, &title, plan.budget, y, &axes)?;
    zero_line(&mut chart, plan)?;
    for (i, (label, points)) in pairs.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart.draw_series(LineSeries::new(
            points.iter().copied(),
            color.stroke_width(2),
        ))?;
        // The legend sits beside the plot: with many pairs it would hide the curves.
        legend_entry(&legend, i, label)?;
    }
    Ok(())
}

/// A method's (and stage's) panel of summarised cosines: the min–max and p10–p90 bands and
/// the median of the pairs' cosines over training, each the mean over seeds per bin.
fn quantile_bands(
    area: &Area<'_>,
    plan: &Plan,
    method: &str,
    stage: &str,
    seeds: &[SummaryCurves],
) -> PlotResult {
    let q = conflict_summary::quantile_bins(seeds, plan.budget, BINS);
    let (y, axes) = cos_axes(q.iter().flatten().copied());
    let (plot, legend) = area.split_horizontally(PANEL.0);
    let pairs = seeds.iter().map(|s| s.pairs).max().unwrap_or(0);
    let title = conflict_summary::label(&format!("{method}: cosines of {pairs} pairs"), stage);
    let mut chart = panel(&plot, &title, plan.budget, y, &axes)?;
    let color = COLORS[0];
    let bins = || (0..BINS).filter(|&k| q.iter().all(|c| !c[k].is_nan()));
    for (lo, hi, alpha) in [(0, 4, 0.15), (1, 3, 0.35)] {
        let mut outline: Vec<(f64, f64)> = bins().map(|k| (bin_x(plan, k), q[hi][k])).collect();
        outline.extend(bins().rev().map(|k| (bin_x(plan, k), q[lo][k])));
        chart.draw_series(std::iter::once(Polygon::new(
            outline,
            color.mix(alpha).filled(),
        )))?;
    }
    zero_line(&mut chart, plan)?;
    chart.draw_series(LineSeries::new(
        bins().map(|k| (bin_x(plan, k), q[2][k])),
        color.stroke_width(2),
    ))?;
    let entries = [
        ("median", color.stroke_width(3)),
        ("10th–90th percentile", color.mix(0.45).stroke_width(10)),
        ("min–max", color.mix(0.2).stroke_width(10)),
    ];
    for (i, (label, style)) in entries.into_iter().enumerate() {
        let y = 48 + 22 * i as i32;
        legend.draw(&PathElement::new([(4, y), (28, y)], style))?;
        legend.draw(&Text::new(label, (34, y - 8), ("sans-serif", 14)))?;
    }
    Ok(())
}

/// The line `cos = 0` across a panel.
fn zero_line(chart: &mut Panel<'_, '_>, plan: &Plan) -> PlotResult {
    let zero = ShapeStyle::from(&BLACK.mix(0.6)).stroke_width(1);
    chart.draw_series(LineSeries::new(
        [(0.0, 0.0), (plan.budget as f64, 0.0)],
        zero,
    ))?;
    Ok(())
}

/// Two panels over training, one line per multi-task method: the share of updates whose
/// task pairs conflict (`cos < 0`), and the mean `|cos|`, pooled over pairs and seeds (from
/// the logged shares and mean `|cos|` where runs logged summaries).
fn conflict_frequency(path: &Path, plan: &Plan, summary: &Summary) -> PlotResult {
    let lines: Vec<(&String, Vec<(f64, f64)>)> = (plan.methods.iter())
        .filter_map(|m| {
            let bins = match summary.cos_updates.get(m) {
                Some(updates) => conflicts::over_training(updates, plan.budget, BINS),
                None => {
                    let stages = summary.cos_summaries.get(m)?;
                    conflict_summary::over_training(stages, plan.budget, BINS)
                }
            };
            Some((m, bins))
        })
        .collect();
    let root = BitMapBackend::new(path, (PANEL.0 * 2 + LEGEND, PANEL.1)).into_drawing_area();
    root.fill(&WHITE)?;
    let (panels, legend) = root.split_horizontally(PANEL.0 * 2);
    let panels = panels.split_evenly((1, 2));
    let magnitude = lines.iter().flat_map(|(_, b)| b.iter().map(|&(_, m)| m));
    let top = y_range(magnitude, Some(0.0)).end;
    let panes = [
        ("share of updates with cos < 0", 0.0..1.0, true),
        ("mean |cos|", 0.0..top, false),
    ];
    for ((title, y, share), area) in panes.into_iter().zip(&panels) {
        let span = y.end - y.start;
        let axes = Axes {
            x: "environment steps per task",
            y: None,
            y_labels: 11,
            y_tick: &|y| y_tick(*y, span),
        };
        let mut chart = panel(area, title, plan.budget, y, &axes)?;
        for (i, (_, bins)) in lines.iter().enumerate() {
            let points = (bins.iter().enumerate())
                .map(|(k, &(neg, abs))| (bin_x(plan, k), if share { neg } else { abs }))
                .filter(|(_, v)| !v.is_nan());
            let color = COLORS[i % COLORS.len()];
            chart.draw_series(LineSeries::new(points, color.stroke_width(2)))?;
        }
    }
    for (i, (method, _)) in lines.iter().enumerate() {
        legend_entry(&legend, i, method)?;
    }
    root.present()?;
    Ok(())
}

/// The axes of a panel: descriptions (none for y when the title says it), the number of y
/// ticks (plotters' default is 11) and their labels (the x axis is always environment steps,
/// labelled `12.5k`).
struct Axes<'f> {
    x: &'static str,
    y: Option<&'static str>,
    y_labels: usize,
    y_tick: &'f dyn Fn(&f64) -> String,
}

type Area<'b> = DrawingArea<BitMapBackend<'b>, plotters::coord::Shift>;
type Panel<'a, 'b> =
    ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A panel of every figure's style on `area`: `title` above, the budget's steps on x, `y` on
/// y, a light grid.
fn panel<'a, 'b>(
    area: &'a Area<'b>,
    title: &str,
    budget: u64,
    y: Range<f64>,
    axes: &Axes<'_>,
) -> Result<Panel<'a, 'b>, Box<dyn std::error::Error>> {
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22).into_font().style(FontStyle::Bold))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..budget as f64, y)?;
    let mut mesh = chart.configure_mesh();
    if let Some(y) = axes.y {
        mesh.y_desc(y);
    }
    mesh.x_desc(axes.x)
        .x_labels(6)
        .y_labels(axes.y_labels)
        .x_label_formatter(&|x| short(*x))
        .y_label_formatter(axes.y_tick)
        .light_line_style(RGBColor(246, 246, 246))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;
    Ok(chart)
}

/// Entry `i` of a legend column beside a panel: a line of the `i`-th colour and `label`.
fn legend_entry(legend: &Area<'_>, i: usize, label: &str) -> PlotResult {
    let (color, y) = (COLORS[i % COLORS.len()], 48 + 22 * i as i32);
    legend.draw(&PathElement::new([(4, y), (28, y)], color.stroke_width(3)))?;
    legend.draw(&Text::new(
        label.to_string(),
        (34, y - 8),
        ("sans-serif", 14),
    ))?;
    Ok(())
}

/// A y range covering every seed's curve and the threshold, with a margin (confidence bands
/// of few seeds can be far wider than any return; they are cut at the edges).
fn y_range(values: impl Iterator<Item = f64>, threshold: Option<f64>) -> Range<f64> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| !v.is_nan()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if let Some(th) = threshold {
        lo = lo.min(th);
        hi = hi.max(th);
    }
    if !lo.is_finite() || !hi.is_finite() {
        return 0.0..1.0;
    }
    let pad = ((hi - lo) * 0.05).max(1e-3);
    (lo - pad)..(hi + pad)
}

/// `12500` as `12.5k`, `2000` as `2k`.
fn short(x: f64) -> String {
    let trim = |v: f64, unit: &str| {
        let text = format!("{v:.1}");
        format!("{}{unit}", text.trim_end_matches(".0"))
    };
    if x.abs() >= 1e6 {
        trim(x / 1e6, "M")
    } else if x.abs() >= 1e3 {
        trim(x / 1e3, "k")
    } else {
        format!("{x:.0}")
    }
}

/// A y tick: whole numbers when the axis spans more than 10, else two decimals, or as many
/// more as ten ticks over a narrower span need to differ (0.035 wide: three).
fn y_tick(y: f64, span: f64) -> String {
    if span > 10.0 {
        return format!("{y:.0}");
    }
    let decimals = (-(span / 10.0).log10()).ceil().clamp(2.0, 6.0) as usize;
    format!("{y:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::y_tick;

    #[test]
    fn ticks_over_narrow_spans_keep_enough_decimals_to_differ() {
        assert_eq!(y_tick(250.0, 400.0), "250");
        assert_eq!(y_tick(0.5, 1.0), "0.50");
        assert_eq!(y_tick(0.0315, 0.035), "0.032");
        assert_eq!(y_tick(0.028, 0.035), "0.028");
    }
}
