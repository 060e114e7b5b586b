//! Where every row of the vector env lives in its buffers: rows are grouped by task, tasks in
//! config order, and each buffer is the concatenation of the tasks' blocks (see the module
//! documentation of [`crate::vec_env`] for why).

use std::ops::Range;

use polytask_envs::Space;
use serde::{Deserialize, Serialize};

/// One task's place in the vector env's buffers.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskLayout {
    /// The task's name, unique in the config.
    pub name: String,
    /// The environment id of the task's instances.
    pub env: String,
    /// The task's rows: indices into the per-row buffers (rewards, flags, statistics).
    pub rows: Range<usize>,
    /// The task's block of the observation buffers: `rows.len() × obs_dim` values.
    pub obs: Range<usize>,
    /// The task's block of the action buffer: `rows.len() × act_dim` values.
    pub actions: Range<usize>,
    /// Values per observation ([`Space::flat_dim`] of the observation space).
    pub obs_dim: usize,
    /// Values per action: 1 for a discrete space (the index as `f32`), the box's size else.
    pub act_dim: usize,
    /// The observation space of every instance of the task.
    pub observation_space: Space,
    /// The action space of every instance of the task.
    pub action_space: Space,
    /// The names of the per-step metrics that every instance of the task reports
    /// ([`Env::metric_names`](polytask_envs::Env::metric_names)), e.g. `["success"]`; empty
    /// for most environments.
    pub metrics: Vec<String>,
    /// The task's block of the episode-metrics buffer: `rows.len() × metrics.len()` values.
    pub episode_metrics: Range<usize>,
}

impl TaskLayout {
    /// Number of environment instances (rows) of the task.
    pub fn num_envs(&self) -> usize {
        self.rows.len()
    }
}

/// `shards` contiguous, non-empty index ranges that cover `costs` in order and take about
/// equal time: index `i` costs `costs[i]`, and every shard but the first also costs
/// `handoff`. `shards` is at most the number of indices.
pub(super) fn cut(costs: &[f64], shards: usize, handoff: f64) -> Vec<Range<usize>> {
    let rows = costs.len();
    let shards = shards.clamp(1, rows.max(1));
    let cost = |r: usize| costs[r];
    let total: f64 = costs.iter().sum();
    let target = (total + (shards - 1) as f64 * handoff) / shards as f64;
    let mut out = Vec::with_capacity(shards);
    let mut start = 0;
    for s in 0..shards - 1 {
        let budget = if s == 0 { target } else { target - handoff };
        // Leave at least one row for each later shard.
        let last_end = rows - (shards - 1 - s);
        let (mut end, mut spent) = (start + 1, cost(start));
        while end < last_end && spent + 0.5 * cost(end) <= budget {
            spent += cost(end);
            end += 1;
        }
        out.push(start..end);
        start = end;
    }
    out.push(start..rows);
    out
}

/// The rows of all tasks, task after task.
#[derive(Debug, Clone)]
pub(super) struct Layout {
    pub tasks: Vec<TaskLayout>,
    /// The task index of every row.
    pub row_task: Vec<usize>,
    pub obs_len: usize,
    pub act_len: usize,
    /// The length of the episode-metrics buffer.
    pub metrics_len: usize,
}

/// A run of consecutive rows of one task inside a shard, with the buffer ranges it covers.
/// Serialisable, as a worker process gets its shard's segments from the parent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Segment {
    pub task: usize,
    pub rows: Range<usize>,
    pub obs: Range<usize>,
    pub actions: Range<usize>,
    /// The rows' block of the episode-metrics buffer.
    pub metrics: Range<usize>,
    pub obs_dim: usize,
    pub act_dim: usize,
    /// Metrics per row.
    pub metrics_dim: usize,
    pub discrete: bool,
}

/// What [`Layout::new`] needs to know of a task.
pub(super) struct TaskShape {
    pub name: String,
    pub env: String,
    pub num_envs: usize,
    pub observation_space: Space,
    pub action_space: Space,
    pub metrics: Vec<String>,
}

impl TaskShape {
    /// The shape of `task`, whose environments are as `env`.
    pub fn of(task: &crate::config::Task, env: &dyn polytask_envs::Env) -> Self {
        Self {
            name: task.name.clone(),
            env: task.env.clone(),
            num_envs: task.num_envs,
            observation_space: env.observation_space().clone(),
            action_space: env.action_space().clone(),
            metrics: env.metric_names().to_vec(),
        }
    }
}

impl Layout {
    pub fn new(shapes: Vec<TaskShape>) -> Self {
        let (mut row, mut obs, mut act, mut met) = (0, 0, 0, 0);
        let mut tasks = Vec::with_capacity(shapes.len());
        let mut row_task = Vec::new();
        for (t, s) in shapes.into_iter().enumerate() {
            let obs_dim = s.observation_space.flat_dim();
            let act_dim = s.action_space.flat_dim();
            let n = s.num_envs;
            let metrics_dim = s.metrics.len();
            tasks.push(TaskLayout {
                name: s.name,
                env: s.env,
                rows: row..row + n,
                obs: obs..obs + n * obs_dim,
                actions: act..act + n * act_dim,
                obs_dim,
                act_dim,
                observation_space: s.observation_space,
                action_space: s.action_space,
                metrics: s.metrics,
                episode_metrics: met..met + n * metrics_dim,
            });
            row_task.extend(std::iter::repeat_n(t, n));
            row += n;
            obs += n * obs_dim;
            act += n * act_dim;
            met += n * metrics_dim;
        }
        Self {
            tasks,
            row_task,
            obs_len: obs,
            act_len: act,
            metrics_len: met,
        }
    }

    pub fn rows(&self) -> usize {
        self.row_task.len()
    }

    /// Row `row`'s range of the observation buffers.
    pub fn obs_range(&self, row: usize) -> Range<usize> {
        let task = &self.tasks[self.row_task[row]];
        let start = task.obs.start + (row - task.rows.start) * task.obs_dim;
        start..start + task.obs_dim
    }

    /// Row `row`'s range of the episode-metrics buffer (empty for a task without metrics).
    pub fn metrics_range(&self, row: usize) -> Range<usize> {
        let task = &self.tasks[self.row_task[row]];
        let dim = task.metrics.len();
        let start = task.episode_metrics.start + (row - task.rows.start) * dim;
        start..start + dim
    }

    /// `shards` contiguous, non-empty row ranges that cover every row in order, cut so that
    /// they take about equal time: a row of task `t` costs `task_cost[t]`, and every shard
    /// but the first (the calling thread's) also costs `handoff`. `shards` is at most the
    /// number of rows. (The vector env cuts with [`cut`] directly, see `plan.rs`.)
    #[cfg(test)]
    pub fn shards(&self, task_cost: &[f64], shards: usize, handoff: f64) -> Vec<Range<usize>> {
        let costs: Vec<f64> = self.row_task.iter().map(|&t| task_cost[t]).collect();
        cut(&costs, shards, handoff)
    }

    /// The per-task runs of `rows`, in order.
    pub fn segments(&self, rows: Range<usize>) -> Vec<Segment> {
        self.tasks
            .iter()
            .enumerate()
            .filter_map(|(t, task)| {
                let start = rows.start.max(task.rows.start);
                let end = rows.end.min(task.rows.end);
                (start < end).then(|| {
                    let (first, last) = (start - task.rows.start, end - task.rows.start);
                    let metrics_dim = task.metrics.len();
                    Segment {
                        task: t,
                        rows: start..end,
                        obs: task.obs.start + first * task.obs_dim
                            ..task.obs.start + last * task.obs_dim,
                        actions: task.actions.start + first * task.act_dim
                            ..task.actions.start + last * task.act_dim,
                        metrics: task.episode_metrics.start + first * metrics_dim
                            ..task.episode_metrics.start + last * metrics_dim,
                        obs_dim: task.obs_dim,
                        act_dim: task.act_dim,
                        metrics_dim,
                        discrete: matches!(task.action_space, Space::Discrete(_)),
                    }
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polytask_envs::BoxSpace;

    fn shape(name: &str, n: usize, obs: usize, act: Space) -> TaskShape {
        TaskShape {
            name: name.to_string(),
            env: name.to_string(),
            num_envs: n,
            observation_space: Space::Box(BoxSpace::new(vec![0.0; obs], vec![1.0; obs])),
            action_space: act,
            metrics: Vec::new(),
        }
    }

    fn mixed() -> Layout {
        let box1 = Space::Box(BoxSpace::new(vec![-2.0], vec![2.0]));
        Layout::new(vec![
            shape("a", 3, 4, Space::Discrete(2)),
            shape("b", 2, 6, Space::Discrete(3)),
            shape("c", 4, 3, box1),
        ])
    }

    #[test]
    fn tasks_are_consecutive_blocks_of_every_buffer() {
        let l = mixed();
        let t: Vec<_> = l
            .tasks
            .iter()
            .map(|t| (t.rows.clone(), t.obs.clone(), t.actions.clone()))
            .collect();
        assert_eq!(
            t,
            [
                (0..3, 0..12, 0..3),
                (3..5, 12..24, 3..5),
                (5..9, 24..36, 5..9)
            ]
        );
        assert_eq!((l.rows(), l.obs_len, l.act_len), (9, 36, 9));
        assert_eq!(l.row_task, [0, 0, 0, 1, 1, 2, 2, 2, 2]);
    }

    #[test]
    fn equal_costs_give_equal_shards_and_never_more_than_the_rows() {
        let l = mixed();
        let ones = [1.0; 3];
        assert_eq!(l.shards(&ones, 1, 0.0), vec![0..9]);
        assert_eq!(l.shards(&ones, 3, 0.0), [0..3, 3..6, 6..9]);
        assert_eq!(
            l.shards(&ones, 2, 0.0)
                .iter()
                .map(|r| r.len())
                .sum::<usize>(),
            9
        );
        assert_eq!(l.shards(&ones, 20, 0.0).len(), 9);
        assert!(l.shards(&ones, 20, 0.0).iter().all(|r| r.len() == 1));
        assert_eq!(l.shards(&ones, 0, 0.0), vec![0..9]);
    }

    #[test]
    fn costly_rows_and_the_handoff_move_the_cuts() {
        let l = mixed();
        // Task b's two rows cost as much as the other seven together.
        assert_eq!(l.shards(&[1.0, 3.5, 1.0], 2, 0.0), [0..4, 4..9]);
        // The handoff makes the calling thread's shard the larger.
        assert_eq!(l.shards(&[1.0; 3], 2, 2.0), [0..6, 6..9]);
        // However large the handoff, every shard keeps a row.
        assert_eq!(l.shards(&[1.0; 3], 3, 100.0), [0..7, 7..8, 8..9]);
    }

    #[test]
    fn a_shard_splits_into_per_task_segments_with_their_buffer_ranges() {
        let l = mixed();
        let s = l.segments(2..6);
        assert_eq!(s.len(), 3);
        assert_eq!(
            (s[0].task, s[0].rows.clone(), s[0].obs.clone()),
            (0, 2..3, 8..12)
        );
        assert_eq!(
            (s[1].task, s[1].rows.clone(), s[1].obs.clone()),
            (1, 3..5, 12..24)
        );
        assert_eq!(
            (s[2].task, s[2].rows.clone(), s[2].obs.clone()),
            (2, 5..6, 24..27)
        );
        assert_eq!(s[2].actions, 5..6);
        assert!(s[0].discrete && s[1].discrete && !s[2].discrete);
        // Every row of every shard lands in exactly one segment, in order.
        for shards in 1..=9 {
            let rows: Vec<usize> = l
                .shards(&[1.0, 5.0, 2.0], shards, 3.0)
                .into_iter()
                .flat_map(|r| l.segments(r))
                .flat_map(|s| s.rows)
                .collect();
            assert_eq!(rows, (0..9).collect::<Vec<_>>());
        }
    }
}
