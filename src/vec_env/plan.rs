//! Which rows worker processes host and how the others are cut into thread shards.
//!
//! The rows of `gym:` tasks (when worker processes are on) form maximal runs of consecutive
//! rows; each run gets at least one process (a process hosts contiguous rows, like every
//! shard), the remaining processes go one by one to the run with the most rows per process,
//! and each run is cut into equal parts. Rows, not measured costs, are balanced: timing a
//! Python environment would mean making one in the parent, which is what the processes are
//! for (constructing a Meta-World environment takes seconds).
//!
//! The other rows are cut into `threads` shards by cost as before ([`cut`]), over their
//! concatenation; a shard that would span rows hosted by a process is split there, so where
//! native tasks sit on both sides of `gym:` tasks there may be one more thread shard than
//! asked for.

use std::ops::Range;

use super::layout::cut;

/// The row ranges of `workers` processes over the rows of `tasks` whose flag is set, given
/// as `(rows, hosted by processes)` per task, in row order: at least one per run of such
/// rows and at most one per row; empty when no row is flagged.
pub(super) fn process_shards(tasks: &[(Range<usize>, bool)], workers: usize) -> Vec<Range<usize>> {
    let mut runs: Vec<Range<usize>> = Vec::new();
    for (rows, hosted) in tasks {
        if !hosted || rows.is_empty() {
            continue;
        }
        match runs.last_mut() {
            Some(run) if run.end == rows.start => run.end = rows.end,
            _ => runs.push(rows.clone()),
        }
    }
    let total: usize = runs.iter().map(|r| r.len()).sum();
    let workers = workers.max(runs.len()).min(total);
    let mut per_run = vec![1; runs.len()];
    for _ in runs.len()..workers {
        // The run with the most rows per process that can still take one more.
        let best = (0..runs.len())
            .filter(|&i| per_run[i] < runs[i].len())
            .max_by(|&a, &b| {
                let load = |i: usize| runs[i].len() as f64 / per_run[i] as f64;
                load(a).total_cmp(&load(b)).then(b.cmp(&a))
            });
        match best {
            Some(i) => per_run[i] += 1,
            None => break,
        }
    }
    runs.iter()
        .zip(per_run)
        .flat_map(|(run, parts)| split_evenly(run.clone(), parts))
        .collect()
}

/// `parts` contiguous ranges covering `rows`, their lengths differing by at most one.
fn split_evenly(rows: Range<usize>, parts: usize) -> Vec<Range<usize>> {
    let (n, parts) = (rows.len(), parts.max(1));
    (0..parts)
        .map(|p| rows.start + p * n / parts..rows.start + (p + 1) * n / parts)
        .collect()
}

/// The thread shards over `rows` (sorted row indices, not hosted by processes) whose costs
/// are `costs`: [`cut`] of their concatenation into `threads` shards, each split where the
/// rows are not consecutive.
pub(super) fn thread_shards(
    rows: &[usize],
    costs: &[f64],
    threads: usize,
    handoff: f64,
) -> Vec<Range<usize>> {
    if rows.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for part in cut(costs, threads, handoff) {
        let mut start = rows[part.start];
        for w in part.start..part.end {
            let row = rows[w];
            let next = rows.get(w + 1).copied();
            if w + 1 == part.end || next != Some(row + 1) {
                out.push(start..row + 1);
                if let Some(next) = next {
                    start = next;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_split_runs_evenly_and_every_run_gets_one() {
        let one = [(0..8, true)];
        assert_eq!(process_shards(&one, 2), [0..4, 4..8]);
        assert_eq!(process_shards(&one, 3), [0..2, 2..5, 5..8]);
        assert_eq!(process_shards(&one, 20).len(), 8);
        // Two runs of gym rows around a native task: each gets a process.
        let two = [(0..2, true), (2..5, false), (5..11, true)];
        assert_eq!(process_shards(&two, 1), [0..2, 5..11]);
        assert_eq!(process_shards(&two, 3), [0..2, 5..8, 8..11]);
        // Consecutive gym tasks form one run.
        let joined = [(0..2, true), (2..4, true), (4..5, false)];
        assert_eq!(process_shards(&joined, 2), [0..2, 2..4]);
        assert!(process_shards(&[(0..4, false)], 2).is_empty());
    }

    #[test]
    fn thread_shards_never_span_a_gap() {
        let rows = [0, 1, 2, 6, 7];
        let costs = [1.0; 5];
        assert_eq!(thread_shards(&rows, &costs, 1, 0.0), [0..3, 6..8]);
        assert_eq!(thread_shards(&rows, &costs, 2, 0.0), [0..3, 6..8]);
        assert_eq!(
            thread_shards(&rows, &costs, 3, 0.0),
            [0..2, 2..3, 6..7, 7..8]
        );
        assert_eq!(
            thread_shards(&[3, 4, 5], &[1.0; 3], 3, 0.0),
            [3..4, 4..5, 5..6]
        );
        assert!(thread_shards(&[], &[], 2, 0.0).is_empty());
    }
}
