//! The normalised score of a comparison: each main task's final evaluation return divided by
//! the single-task agent's mean final return on that task, averaged over the main tasks — one
//! number per method and seed, so that methods can be ranked across tasks whose returns have
//! different scales (Atari's human-normalised score, with the task trained alone as the
//! reference, as multi-task MinAtar and Meta-World reports use).
//!
//! A ratio means something only against a positive reference: where a main task's
//! single-task mean return is not positive (Acrobot's and MountainCar's are negative), the
//! score is not defined and the report says which task prevents it.

use super::plan::Plan;
use super::summary::Summary;
use crate::config::{Role, SINGLE_TASK};

/// One method's normalised scores.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodScore {
    /// The method.
    pub method: String,
    /// One score per seed: the mean over the main tasks of return ÷ reference.
    pub per_seed: Vec<f64>,
    /// Each main task's mean return over seeds ÷ its reference, in plan order.
    pub per_task: Vec<(String, f64)>,
}

/// Every method's normalised scores, in plan order, or why there are none.
pub fn scores(plan: &Plan, summary: &Summary) -> Result<Vec<MethodScore>, String> {
    if !plan.methods.iter().any(|m| m == SINGLE_TASK) {
        return Err(format!(
            "the comparison has no `{SINGLE_TASK}` runs to normalise by"
        ));
    }
    let main: Vec<&str> = (plan.tasks.iter())
        .filter(|t| t.role == Role::Main)
        .map(|t| t.name.as_str())
        .collect();
    let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
    let mut references = Vec::with_capacity(main.len());
    for &task in &main {
        let cell = summary.cell(SINGLE_TASK, task);
        let reference = cell.map_or(f64::NAN, |c| mean(&c.final_returns));
        if !(reference.is_finite() && reference > 0.0) {
            return Err(format!(
                "`{SINGLE_TASK}`'s mean final return on `{task}` is {reference:.1}, not positive"
            ));
        }
        references.push(reference);
    }
    let score = |method: &String| -> Option<MethodScore> {
        let cells: Vec<&[f64]> = (main.iter())
            .map(|t| summary.cell(method, t).map(|c| c.final_returns.as_slice()))
            .collect::<Option<_>>()?;
        let seeds = cells.first()?.len();
        if seeds == 0 || cells.iter().any(|c| c.len() != seeds) {
            return None;
        }
        let per_seed = (0..seeds)
            .map(|s| {
                mean(
                    &cells
                        .iter()
                        .zip(&references)
                        .map(|(c, r)| c[s] / r)
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        let per_task = (main.iter().zip(&cells).zip(&references))
            .map(|((t, c), r)| (t.to_string(), mean(c) / r))
            .collect();
        Some(MethodScore {
            method: method.clone(),
            per_seed,
            per_task,
        })
    };
    Ok(plan.methods.iter().filter_map(score).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::{Cell, TaskInfo};

    fn plan(methods: &[&str], tasks: &[(&str, Role)]) -> Plan {
        Plan {
            name: "p".into(),
            methods: methods.iter().map(|m| m.to_string()).collect(),
            baseline: SINGLE_TASK.into(),
            tasks: (tasks.iter())
                .map(|&(name, role)| TaskInfo {
                    name: name.into(),
                    threshold: None,
                    role,
                    budget: 100,
                })
                .collect(),
            seeds: vec![1, 2],
            budget: 100,
            jobs: Vec::new(),
            success_threshold: 0.9,
        }
    }

    fn summary(cells: &[(&str, &str, [f64; 2])]) -> Summary {
        let mut s = Summary::default();
        for &(method, task, returns) in cells {
            let cell = Cell {
                final_returns: returns.to_vec(),
                ..Cell::default()
            };
            s.cells.insert((method.into(), task.into()), cell);
        }
        s
    }

    #[test]
    fn each_seed_averages_its_main_tasks_ratios_to_the_single_task_means() {
        let p = plan(
            &["single-task", "pcgrad"],
            &[
                ("a", Role::Main),
                ("b", Role::Main),
                ("aux", Role::Auxiliary),
            ],
        );
        let s = summary(&[
            ("single-task", "a", [10.0, 30.0]),
            ("single-task", "b", [1.0, 3.0]),
            ("pcgrad", "a", [20.0, 40.0]),
            ("pcgrad", "b", [2.0, 1.0]),
            // Auxiliary tasks do not count, whatever their returns.
            ("pcgrad", "aux", [-5.0, -5.0]),
        ]);
        let scores = scores(&p, &s).unwrap();
        assert_eq!(scores.len(), 2);
        assert_eq!(
            scores[0].per_seed,
            vec![(0.5 + 0.5) / 2.0, (1.5 + 1.5) / 2.0]
        );
        assert_eq!(scores[1].method, "pcgrad");
        assert_eq!(
            scores[1].per_seed,
            vec![(1.0 + 1.0) / 2.0, (2.0 + 0.5) / 2.0]
        );
        assert_eq!(
            scores[1].per_task,
            vec![("a".to_string(), 1.5), ("b".to_string(), 0.75)]
        );
    }

    #[test]
    fn without_a_positive_single_task_reference_there_is_no_score() {
        let p = plan(&["single-task", "sum"], &[("acrobot", Role::Main)]);
        let s = summary(&[
            ("single-task", "acrobot", [-80.0, -75.0]),
            ("sum", "acrobot", [-70.0, -72.0]),
        ]);
        let why = scores(&p, &s).unwrap_err();
        assert!(why.contains("acrobot") && why.contains("-77.5"), "{why}");
        let p = plan(&["sum", "pcgrad"], &[("a", Role::Main)]);
        assert!(scores(&p, &s).unwrap_err().contains("single-task"));
    }
}
