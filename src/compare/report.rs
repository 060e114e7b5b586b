//! The files a comparison leaves for its reader: `report.md` (tables and a guide to reading
//! them), `results.csv` (every episode's return, tidy) and `final.csv` (per run and task:
//! final evaluation, area under the curve, steps to threshold).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use anyhow::Context;

use super::conflict_summary::{self, MostConflicting};
use super::plan::{Plan, TaskInfo};
use super::stats::{self, mean_ci95, welch};
use super::summary::{Cell, Summary};
use super::{conflicts, normalised};
use crate::config::{Role, SINGLE_TASK};

/// Significance level of the verdicts.
pub const ALPHA: f64 = 0.05;

/// Writes `report.md`, `results.csv` and `final.csv` into `out`.
pub fn write_all(out: &Path, plan: &Plan, summary: &Summary, plots: &[&str]) -> anyhow::Result<()> {
    write(&out.join("report.md"), &report(plan, summary, plots))?;
    write(&out.join("results.csv"), &results_csv(summary))?;
    write(&out.join("final.csv"), &final_csv(plan, summary))
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// The tidy table of every episode: `method,seed,task,step,return`.
pub fn results_csv(summary: &Summary) -> String {
    let mut csv = String::from("method,seed,task,step,return\n");
    for (method, seed, task, curve) in &summary.curves {
        for (step, value) in curve {
            writeln!(csv, "{method},{seed},{task},{step},{value}").unwrap();
        }
    }
    csv
}

fn final_csv(plan: &Plan, summary: &Summary) -> String {
    let mut csv = String::from(
        "method,seed,task,final_return,auc,steps_to_threshold,final_success,steps_to_success\n",
    );
    for method in &plan.methods {
        for task in &plan.tasks {
            let Some(cell) = summary.cell(method, &task.name) else {
                continue;
            };
            for (k, seed) in plan.seeds.iter().enumerate() {
                let reached = cell.to_threshold[k].map_or(String::new(), |s| s.to_string());
                let (ret, auc) = (cell.final_returns[k], cell.auc[k]);
                let success = Some(cell.final_success[k])
                    .filter(|s| !s.is_nan())
                    .map_or(String::new(), |s| s.to_string());
                let to_success = cell.to_success[k].map_or(String::new(), |s| s.to_string());
                writeln!(
                    csv,
                    "{method},{seed},{},{ret},{auc},{reached},{success},{to_success}",
                    task.name
                )
                .unwrap();
            }
        }
    }
    csv
}

/// The Markdown report.
pub fn report(plan: &Plan, summary: &Summary, plots: &[&str]) -> String {
    let mut md = String::new();
    let seeds: Vec<String> = plan.seeds.iter().map(u64::to_string).collect();
    writeln!(md, "# Comparison `{}`\n", plan.name).unwrap();
    writeln!(
        md,
        "{} environment steps per task and run; seeds {}; baseline `{}`.\n",
        plan.budget,
        seeds.join(", "),
        plan.baseline
    )
    .unwrap();
    let table = |md: &mut String, title: &str, f: &dyn Fn(&Cell) -> String| {
        writeln!(md, "## {title}\n").unwrap();
        header(md, plan);
        for task in ordered(plan) {
            let cells: Vec<String> = plan
                .methods
                .iter()
                .map(|m| summary.cell(m, &task.name).map_or("—".into(), f))
                .collect();
            writeln!(md, "| {} | {} |", label(task), cells.join(" | ")).unwrap();
        }
        md.push('\n');
    };
    table(
        &mut md,
        "Final evaluation return (mean ± 95% CI over seeds)",
        &|c| with_ci(&c.final_returns),
    );
    table(
        &mut md,
        "Area under the learning curve (mean episodic return over training)",
        &|c| with_ci(&c.auc),
    );
    writeln!(md, "Thresholds: {}.\n", thresholds(plan)).unwrap();
    table(
        &mut md,
        "Steps to threshold (median over the seeds that reached it; reached/seeds)",
        &|c| steps_reached(&c.to_threshold),
    );
    if summary.cells.values().any(Cell::has_success) {
        table(
            &mut md,
            "Final evaluation success rate (mean ± 95% CI over seeds; an episode succeeds if \
             `success` was 1 at any step, Meta-World's rule)",
            &|c| match c.has_success() {
                true => with_ci_to(&c.final_success, 2),
                false => "—".into(),
            },
        );
        mean_success(&mut md, plan, summary);
        table(
            &mut md,
            &format!(
                "Steps to a training success rate of {} (mean of the last 20 episodes; median \
                 over the seeds that reached it; reached/seeds)",
                plan.success_threshold
            ),
            &|c| match c.has_success() {
                true => steps_reached(&c.to_success),
                false => "—".into(),
            },
        );
    }
    verdicts(&mut md, plan, summary);
    normalised_scores(&mut md, plan, summary);
    conflicts(&mut md, plan, summary);
    for plot in plots {
        writeln!(md, "![{plot}]({plot})\n").unwrap();
    }
    md.push_str(GUIDE);
    md
}

/// The gradient-conflict table: per multi-task method and task pair (or pooled over the pairs
/// when there are more than [`conflicts::MAX_PAIRS`], or when the runs logged summaries), how
/// often and how strongly the shared-weight gradients conflict; for runs that logged
/// summaries the most conflicting pairs; and the verdict for the task set.
fn conflicts(md: &mut String, plan: &Plan, summary: &Summary) {
    if !summary.has_conflicts() {
        return;
    }
    writeln!(md, "## Gradient conflicts (cosine of the shared-weight gradients, every logged update, all seeds)\n").unwrap();
    writeln!(
        md,
        "| method | task pair | updates | cos < 0 | cos < {} | mean \\|cos\\| | 10th percentile |",
        conflicts::STRONG
    )
    .unwrap();
    writeln!(md, "| --- | --- | ---: | ---: | ---: | ---: | ---: |").unwrap();
    let row = |md: &mut String, method: &str, pair: &str, c: &conflicts::Conflicts| {
        writeln!(
            md,
            "| {method} | {pair} | {} | {} | {} | {:.3} | {:.3} |",
            c.updates,
            pct(c.negative),
            pct(c.strong),
            c.mean_abs,
            c.p10
        )
        .unwrap();
    };
    let mut candidates = Vec::new();
    let mut most = Vec::new();
    for method in summary.conflict_methods(&plan.methods) {
        if let Some(by_pair) = summary.cos_updates.get(method) {
            let pooled = conflicts::pooled(by_pair);
            let rows: Vec<(String, Vec<f64>)> = if pooled.len() > conflicts::MAX_PAIRS {
                let all = pooled.values().flatten().copied().collect();
                vec![(format!("all {} pairs", pooled.len()), all)]
            } else {
                let pairs = pooled.iter();
                pairs
                    .map(|(p, xs)| (p.replace("__", " / "), xs.clone()))
                    .collect()
            };
            for (pair, xs) in rows {
                if let Some(c) = conflicts::Conflicts::of(&xs) {
                    row(md, method, &pair, &c);
                }
            }
            let by_method = BTreeMap::from([(method.clone(), pooled)]);
            candidates.extend(conflicts::pair_conflicts(&by_method));
        }
        for (stage, seeds) in summary.cos_summaries.get(method).into_iter().flatten() {
            let pairs = seeds.iter().map(|s| s.pairs).max().unwrap_or(0);
            let what = format!("all {pairs} pairs, summarised");
            if let Some(c) = conflict_summary::pooled(seeds) {
                row(md, method, &conflict_summary::label(&what, stage), &c);
            }
            let listed = conflict_summary::most_conflicting(seeds);
            candidates.extend(listed.candidate(method, stage));
            most.push((method, stage, listed));
        }
    }
    most_conflicting(md, &most);
    writeln!(md, "\n{}\n", conflicts::verdict_of(&candidates)).unwrap();
}

/// The table of the most conflicting pairs of the runs that logged summaries, per method and
/// stage.
fn most_conflicting(md: &mut String, most: &[(&String, &String, MostConflicting)]) {
    if most.is_empty() {
        return;
    }
    let lowest = crate::train::pair_summary::LOWEST;
    writeln!(
        md,
        "\nMost conflicting pairs of the runs that logged summaries (more gradient rows than \
         `logging.pairwise_limit`): the {} pairs most often among each update's {lowest} \
         lowest cosines, all seeds. Shares are of all logged updates and count only the \
         updates where the pair was listed: lower bounds, exact for cos < {} when no update \
         had more than {lowest} pairs below it.\n",
        conflict_summary::LISTED,
        conflicts::STRONG
    )
    .unwrap();
    writeln!(
        md,
        "| method | task pair | among the {lowest} lowest | cos < 0 | cos < {} | mean cos where listed | lowest cos |",
        conflicts::STRONG
    )
    .unwrap();
    writeln!(md, "| --- | --- | ---: | ---: | ---: | ---: | ---: |").unwrap();
    for (method, stage, listed) in most {
        let share = |k: usize| pct(k as f64 / listed.updates.max(1) as f64);
        for p in listed.pairs.iter().take(conflict_summary::LISTED) {
            let pair = conflict_summary::label(&p.pair.replace("__", " / "), stage);
            writeln!(
                md,
                "| {method} | {pair} | {} | {} | {} | {:.3} | {:.3} |",
                share(p.listed),
                share(p.negative),
                share(p.strong),
                p.mean_cos,
                p.lowest
            )
            .unwrap();
        }
    }
}

/// A share as a whole percentage.
/// Steps to a threshold: the median over the seeds that reached it, and how many did.
fn steps_reached(to: &[Option<u64>]) -> String {
    let reached: Vec<f64> = to.iter().flatten().map(|&s| s as f64).collect();
    if reached.is_empty() {
        format!("never (0/{})", to.len())
    } else {
        let median = steps(stats::median(&reached));
        format!("{median} ({}/{})", reached.len(), to.len())
    }
}

/// Each method's success rate averaged over the tasks that report one (Meta-World's headline
/// number, e.g. MT10's mean success rate), mean ± 95% CI over seeds.
fn mean_success(md: &mut String, plan: &Plan, summary: &Summary) {
    let per_method: Vec<String> = (plan.methods.iter())
        .map(|m| {
            let cells: Vec<&Cell> = (plan.tasks.iter())
                .filter_map(|t| summary.cell(m, &t.name))
                .filter(|c| c.has_success())
                .collect();
            let seeds = cells
                .iter()
                .map(|c| c.final_success.len())
                .min()
                .unwrap_or(0);
            let means: Vec<f64> = (0..seeds)
                .map(|k| cells.iter().map(|c| c.final_success[k]).sum::<f64>() / cells.len() as f64)
                .collect();
            match means.is_empty() {
                true => "—".into(),
                false => with_ci_to(&means, 2),
            }
        })
        .collect();
    writeln!(md, "Mean success rate over the tasks, per method: {}.\n", {
        let pairs: Vec<String> = (plan.methods.iter().zip(&per_method))
            .map(|(m, s)| format!("`{m}` {s}"))
            .collect();
        pairs.join(", ")
    })
    .unwrap();
}

fn pct(x: f64) -> String {
    format!("{:.0}%", 100.0 * x)
}

/// The normalised-score table (see [`normalised`]), or the reason there is none; nothing for
/// a comparison without `single-task` runs.
fn normalised_scores(md: &mut String, plan: &Plan, summary: &Summary) {
    if !plan.methods.iter().any(|m| m == SINGLE_TASK) {
        return;
    }
    writeln!(
        md,
        "## Normalised score (each main task's final return ÷ `{SINGLE_TASK}`'s mean, \
         averaged over the main tasks)\n"
    )
    .unwrap();
    match normalised::scores(plan, summary) {
        Err(why) => writeln!(md, "Not defined: {why}.\n").unwrap(),
        Ok(scores) => {
            writeln!(
                md,
                "| method | score (mean ± 95% CI over seeds) | per task |"
            )
            .unwrap();
            writeln!(md, "|---|---|---|").unwrap();
            for s in scores {
                let score = with_ci_to(&s.per_seed, 2);
                let tasks: Vec<String> = (s.per_task.iter())
                    .map(|(t, r)| format!("{t} {r:.2}"))
                    .collect();
                writeln!(md, "| `{}` | {score} | {} |", s.method, tasks.join(", ")).unwrap();
            }
            md.push('\n');
        }
    }
}

/// `mean ± half-width` of the 95% CI over seeds (the mean alone for one seed), one decimal.
fn with_ci(xs: &[f64]) -> String {
    with_ci_to(xs, 1)
}

/// [`with_ci`] with `decimals` decimals.
fn with_ci_to(xs: &[f64], decimals: usize) -> String {
    match mean_ci95(xs) {
        (m, _) if m.is_nan() => "—".to_string(),
        (m, h) if h.is_nan() => format!("{m:.decimals$}"),
        (m, h) => format!("{m:.decimals$} ± {h:.decimals$}"),
    }
}

fn header(md: &mut String, plan: &Plan) {
    let names: Vec<String> = plan.methods.iter().map(|m| format!("`{m}`")).collect();
    writeln!(md, "| task | {} |", names.join(" | ")).unwrap();
    writeln!(md, "|---|{}", "---|".repeat(plan.methods.len())).unwrap();
}

fn thresholds(plan: &Plan) -> String {
    let parts: Vec<String> = plan
        .tasks
        .iter()
        .map(|t| match t.threshold {
            Some(th) => format!("{} {th}", t.name),
            None => format!("{} none", t.name),
        })
        .collect();
    parts.join(", ")
}

fn verdicts(md: &mut String, plan: &Plan, summary: &Summary) {
    writeln!(
        md,
        "## Verdict against `{}` (Welch's t-test on final evaluation returns, α = {ALPHA})\n",
        plan.baseline
    )
    .unwrap();
    header(md, plan);
    for task in ordered(plan) {
        let base = summary.cell(&plan.baseline, &task.name);
        let cells: Vec<String> = plan
            .methods
            .iter()
            .map(
                |m| match (m == &plan.baseline, base, summary.cell(m, &task.name)) {
                    (true, _, _) => "baseline".into(),
                    (false, Some(b), Some(c)) => verdict(&c.final_returns, &b.final_returns),
                    _ => "—".into(),
                },
            )
            .collect();
        writeln!(md, "| {} | {} |", label(task), cells.join(" | ")).unwrap();
    }
    md.push('\n');
}

/// Main tasks first (they are the objective), then auxiliary ones.
fn ordered(plan: &Plan) -> impl Iterator<Item = &TaskInfo> {
    let main = plan.tasks.iter().filter(|t| t.role == Role::Main);
    main.chain(plan.tasks.iter().filter(|t| t.role != Role::Main))
}

/// A task's row label: its name, marked when auxiliary.
fn label(task: &TaskInfo) -> String {
    match task.role {
        Role::Main => task.name.clone(),
        Role::Auxiliary => format!("{} (auxiliary)", task.name),
    }
}

/// "better", "worse" or "n.s." (no significant difference), with the difference of means
/// and the p-value.
pub fn verdict(method: &[f64], baseline: &[f64]) -> String {
    match welch(method, baseline) {
        None => "too few seeds".into(),
        Some(w) if w.p < ALPHA && w.diff > 0.0 => {
            format!("better (+{:.1}, p = {:.3})", w.diff, w.p)
        }
        Some(w) if w.p < ALPHA => format!("worse ({:.1}, p = {:.3})", w.diff, w.p),
        Some(w) => format!("n.s. ({:+.1}, p = {:.2})", w.diff, w.p),
    }
}

fn steps(s: f64) -> String {
    if s >= 1e6 {
        format!("{:.2}M", s / 1e6)
    } else if s >= 1e3 {
        format!("{:.1}k", s / 1e3)
    } else {
        format!("{s:.0}")
    }
}

const GUIDE: &str = "## How to read this report

- Every method trained each task for the same number of environment steps with the same
  seeds. `single-task` is one independent agent per task (same network and hyperparameters,
  nothing shared); the other methods are one multi-task agent whose shared-weight gradients
  are combined by the named aggregator (or the named variant's settings).
- Main tasks come first: their returns are the objective. Auxiliary tasks (marked) are
  trained only to help them; their returns are shown but are not the goal, and the
  single-task baseline trains the main tasks alone, without auxiliary tasks or losses.
- A method named `A+B` is aggregator `A` with weighting `B` (weights first, then surgery).
- *Final evaluation return*: the mean return of the evaluation episodes after training
  (deterministic actions), averaged over seeds; ± is the half-width of the 95% Student-t
  interval over seeds. With few seeds the intervals are wide: read them before the means.
- *Area under the learning curve*: the mean training-episode return over the whole budget
  (the curve is averaged on 50 equal intervals). It rewards learning early, not just
  finishing well.
- *Steps to threshold*: when the mean of the last 20 training episodes first reached the
  task's threshold (the environment's reward threshold unless the config sets one).
- *Verdict*: Welch's unequal-variance t-test of each method's final returns against the
  baseline's, two-sided at α = 0.05, with the difference of mean final returns. \"n.s.\"
  (not significant) is not evidence that the methods are equal; more seeds (`--seeds`) give
  the test more power.
- *Normalised score*: each main task's final return divided by the single-task agent's mean
  final return on that task, averaged over the main tasks, per seed: 1 is as good as
  training each task alone, whatever the tasks' scales (defined only when every main task's
  single-task mean return is positive).
- *Gradient conflicts*: for each multi-task method and task pair, the cosine similarity of
  the two tasks' gradients of the shared weights at every logged update (before surgery),
  over all seeds: the share of updates where they conflict (cos < 0), where they conflict
  strongly (cos < −0.1), the mean |cos| and the 10th percentile. Near-zero cosines with
  conflicts in about half of the updates mean nearly orthogonal gradients: surgery then has
  little to resolve. The verdict reads the pair (under any method) with the largest share of
  updates below −0.1, where a projection changes the update by more than a tenth of its
  norm: at least 25%, conflicts worth resolving; 5–25%, occasional conflicts; below, none.
- Runs with more gradient rows (tasks plus auxiliary losses) than `logging.pairwise_limit`
  (default 10) log summaries of the cosines instead of every pair: their row *all N pairs,
  summarised* has the exact shares and mean |cos| over all pairs and updates, and the mean
  of the updates' 10th percentiles; the table below it lists the pairs most often among each
  update's 5 lowest cosines, and the plots show the quantiles over training (min–max and
  10th–90th percentile bands, the median) instead of one line per pair.
- `results.csv` holds every training episode (`method,seed,task,step,return`), `final.csv`
  the per-run numbers behind the tables; `runs/` holds each run's TensorBoard events
  (`tensorboard --logdir runs`).
";

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            name: "p".into(),
            methods: vec![SINGLE_TASK.into(), "pcgrad".into()],
            baseline: SINGLE_TASK.into(),
            tasks: ["reach-v3", "push-v3"]
                .map(|name| TaskInfo {
                    name: name.into(),
                    threshold: None,
                    role: Role::Main,
                    budget: 100,
                })
                .to_vec(),
            seeds: vec![1, 2],
            budget: 100,
            jobs: Vec::new(),
            success_threshold: 0.9,
        }
    }

    fn cell(success: [f64; 2], to_success: [Option<u64>; 2]) -> Cell {
        Cell {
            final_returns: vec![1.0, 2.0],
            binned: vec![vec![1.0], vec![2.0]],
            auc: vec![1.0, 2.0],
            to_threshold: vec![None, None],
            final_success: success.to_vec(),
            to_success: to_success.to_vec(),
        }
    }

    #[test]
    fn tasks_with_success_get_success_tables_and_the_mean_over_tasks() {
        let mut summary = Summary::default();
        let cells = [
            (SINGLE_TASK, "reach-v3", cell([1.0, 0.8], [Some(40), None])),
            (SINGLE_TASK, "push-v3", cell([0.0, 0.2], [None, None])),
            ("pcgrad", "reach-v3", cell([1.0, 1.0], [Some(30), Some(50)])),
            ("pcgrad", "push-v3", cell([0.5, 0.5], [None, None])),
        ];
        for (method, task, cell) in cells {
            summary.cells.insert((method.into(), task.into()), cell);
        }
        let md = report(&plan(), &summary, &[]);
        assert!(md.contains("## Final evaluation success rate"), "{md}");
        // Seed means over the two tasks: single-task 0.5 and 0.5, pcgrad 0.75 and 0.75.
        assert!(
            md.contains("`single-task` 0.50 ± 0.00, `pcgrad` 0.75 ± 0.00"),
            "{md}"
        );
        assert!(
            md.contains("| reach-v3 | 0.90 ± 1.27 | 1.00 ± 0.00 |"),
            "{md}"
        );
        // Steps to 0.9: single-task's one seed at 40; pcgrad's median of 30 and 50.
        assert!(md.contains("| reach-v3 | 40 (1/2) | 40 (2/2) |"), "{md}");
        assert!(
            md.contains("| push-v3 | never (0/2) | never (0/2) |"),
            "{md}"
        );
        let csv = final_csv(&plan(), &summary);
        assert!(csv
            .lines()
            .next()
            .unwrap()
            .ends_with("final_success,steps_to_success"));
        assert!(csv.contains("pcgrad,2,reach-v3,2,2,,1,50"), "{csv}");
        // Without success, no success tables.
        for cell in summary.cells.values_mut() {
            cell.final_success = vec![f64::NAN; 2];
        }
        assert!(!report(&plan(), &summary, &[]).contains("success rate"));
    }
}
