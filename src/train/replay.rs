//! One task's replay buffer for off-policy learning: a ring of transitions in flat buffers
//! allocated once (the operating system maps their pages as they are first written), as
//! Stable-Baselines3's `ReplayBuffer` with `optimize_memory_usage = False`: each transition
//! keeps its own next observation, which is the episode's final observation where it was
//! truncated, so bootstrapping on a time limit uses the right state.
//!
//! Saving is incremental ([`TaskReplay::save`]): each save writes only the transitions added
//! since the previous one, as a new chunk file, then replaces the small `replay.json` that
//! lists the chunks; chunks whose transitions had all been overwritten already at the
//! previous save are deleted (one save late, so that a crash between a buffer's save and its
//! checkpoint's leaves what the previous checkpoint needs). A checkpoint taken on a signal
//! thus writes seconds' worth of transitions, not the buffer. [`TaskReplay::load`] reads the
//! buffer as it was after a given number of transitions: the checkpoint's.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// The file listing a saved buffer's chunks.
pub const REPLAY_INDEX: &str = "replay.json";

/// A task's transitions, oldest overwritten first once `capacity` is reached.
#[derive(Debug)]
pub struct TaskReplay {
    capacity: usize,
    obs_dim: usize,
    act_dim: usize,
    obs: Vec<f32>,
    next_obs: Vec<f32>,
    actions: Vec<f32>,
    rewards: Vec<f32>,
    terminated: Vec<f32>,
    /// Where the next transition goes.
    pos: usize,
    /// Transitions held (at most `capacity`).
    len: usize,
    /// Transitions ever added.
    added: u64,
    /// What the folder saved to holds: transitions `[start, end)` (counted as `added`) per
    /// chunk, oldest first.
    saved: Vec<[u64; 2]>,
    /// The oldest transition held at the previous save: chunks ending after it are kept.
    kept_from: u64,
}

/// `replay.json`: the buffer's shape and its chunks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Index {
    capacity: usize,
    obs_dim: usize,
    act_dim: usize,
    added: u64,
    chunks: Vec<[u64; 2]>,
}

/// A minibatch of one task, in buffers reused from one draw to the next.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TaskBatch {
    /// Observations `[B × obs_dim]`.
    pub obs: Vec<f32>,
    /// Actions `[B × act_dim]`.
    pub actions: Vec<f32>,
    /// Rewards `[B]`.
    pub rewards: Vec<f32>,
    /// Next observations `[B × obs_dim]`.
    pub next_obs: Vec<f32>,
    /// 1 where the transition ended its episode by termination, else 0 `[B]`.
    pub terminated: Vec<f32>,
}

impl TaskReplay {
    /// An empty buffer for `capacity` transitions with observations of `obs_dim` values and
    /// actions of `act_dim`.
    pub fn new(capacity: usize, obs_dim: usize, act_dim: usize) -> Self {
        Self {
            capacity,
            obs_dim,
            act_dim,
            obs: vec![0.0; capacity * obs_dim],
            next_obs: vec![0.0; capacity * obs_dim],
            actions: vec![0.0; capacity * act_dim],
            rewards: vec![0.0; capacity],
            terminated: vec![0.0; capacity],
            pos: 0,
            len: 0,
            added: 0,
            saved: Vec::new(),
            kept_from: 0,
        }
    }

    /// Values per transition in a chunk file: observation, next observation, action, reward,
    /// terminated.
    fn stride(&self) -> usize {
        2 * self.obs_dim + self.act_dim + 2
    }

    /// Saves the buffer into `dir` (created if missing), writing only the transitions added
    /// since its previous save (or since it was loaded), and deleting chunks wholly
    /// overwritten since: a buffer always saves to the same folder, which keeps the chunks
    /// of the earlier saves. After a crash `dir` holds the previous save or this one.
    pub fn save(&mut self, dir: &Path) -> anyhow::Result<()> {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let oldest = self.added - self.len as u64;
        let from = self.saved.last().map_or(oldest, |c| c[1]).max(oldest);
        if from < self.added {
            let mut bytes = Vec::with_capacity((self.added - from) as usize * self.stride() * 4);
            for i in from..self.added {
                self.write_transition((i % self.capacity as u64) as usize, &mut bytes);
            }
            let path = chunk_path(dir, [from, self.added]);
            crate::durable::write_synced(&path, &bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
            self.saved.push([from, self.added]);
        }
        let (kept, dropped): (Vec<[u64; 2]>, Vec<[u64; 2]>) =
            self.saved.iter().partition(|c| c[1] > self.kept_from);
        let index = Index {
            capacity: self.capacity,
            obs_dim: self.obs_dim,
            act_dim: self.act_dim,
            added: self.added,
            chunks: kept.clone(),
        };
        let path = dir.join(REPLAY_INDEX);
        let text = serde_json::to_vec(&index).expect("an index serialises");
        crate::durable::replace_file(&path, &text)
            .with_context(|| format!("cannot write {}", path.display()))?;
        for chunk in dropped {
            // Unlisted now; a leftover after a crash is deleted by the next save or ignored.
            let _ = fs::remove_file(chunk_path(dir, chunk));
        }
        self.saved = kept;
        self.kept_from = oldest;
        Ok(())
    }

    /// The buffer saved in `dir` by [`TaskReplay::save`] as it was after its first `added`
    /// transitions (a checkpoint's count; later ones are dropped); it must have been made
    /// with the same `capacity`, `obs_dim` and `act_dim`, and saved at least that far.
    pub fn load(
        dir: &Path,
        capacity: usize,
        obs_dim: usize,
        act_dim: usize,
        added: u64,
    ) -> anyhow::Result<Self> {
        let path = dir.join(REPLAY_INDEX);
        let text = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let index: Index = serde_json::from_slice(&text)
            .with_context(|| format!("{} is damaged", path.display()))?;
        if [index.capacity, index.obs_dim, index.act_dim] != [capacity, obs_dim, act_dim] {
            anyhow::bail!(
                "{} holds a buffer of {} transitions with {} observation and {} action values; \
                 the run needs {capacity}, {obs_dim} and {act_dim}",
                path.display(),
                index.capacity,
                index.obs_dim,
                index.act_dim
            );
        }
        if index.added < added {
            anyhow::bail!(
                "{} holds {} transitions, the checkpoint counts {added}: the buffer was not \
                 saved with it",
                path.display(),
                index.added
            );
        }
        let mut buffer = Self::new(capacity, obs_dim, act_dim);
        let oldest = added.saturating_sub(capacity as u64);
        let chunks: Vec<[u64; 2]> = (index.chunks.iter().copied())
            .filter(|c| c[1] <= added)
            .collect();
        for &chunk in &chunks {
            let path = chunk_path(dir, chunk);
            let bytes =
                fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let expected = (chunk[1] - chunk[0]) as usize * buffer.stride() * 4;
            if bytes.len() != expected {
                anyhow::bail!(
                    "{} holds {} bytes, expected {expected}",
                    path.display(),
                    bytes.len()
                );
            }
            let values: Vec<f32> = (bytes.chunks_exact(4))
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            for (k, i) in (chunk[0]..chunk[1]).enumerate() {
                if i >= oldest {
                    let row = &values[k * buffer.stride()..(k + 1) * buffer.stride()];
                    buffer.read_transition((i % capacity as u64) as usize, row);
                }
            }
        }
        let covered = chunks.last().map_or(0, |c| c[1]);
        if covered != added {
            anyhow::bail!(
                "{}: its chunks end at transition {covered}, the checkpoint counts {added}",
                path.display()
            );
        }
        buffer.added = added;
        buffer.len = (added.min(capacity as u64)) as usize;
        buffer.pos = (added % capacity as u64) as usize;
        buffer.saved = chunks;
        buffer.kept_from = oldest;
        Ok(buffer)
    }

    /// Appends slot `k`'s transition to `bytes`, little-endian.
    fn write_transition(&self, k: usize, bytes: &mut Vec<u8>) {
        let (o, a) = (self.obs_dim, self.act_dim);
        let parts: [&[f32]; 5] = [
            &self.obs[k * o..(k + 1) * o],
            &self.next_obs[k * o..(k + 1) * o],
            &self.actions[k * a..(k + 1) * a],
            &self.rewards[k..k + 1],
            &self.terminated[k..k + 1],
        ];
        for v in parts.into_iter().flatten() {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// Sets slot `k` from one transition `row` as [`TaskReplay::write_transition`] wrote it.
    fn read_transition(&mut self, k: usize, row: &[f32]) {
        let (o, a) = (self.obs_dim, self.act_dim);
        self.obs[k * o..(k + 1) * o].copy_from_slice(&row[..o]);
        self.next_obs[k * o..(k + 1) * o].copy_from_slice(&row[o..2 * o]);
        self.actions[k * a..(k + 1) * a].copy_from_slice(&row[2 * o..2 * o + a]);
        self.rewards[k] = row[2 * o + a];
        self.terminated[k] = row[2 * o + a + 1];
    }

    /// Transitions held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer holds no transition.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Transitions ever added (held or overwritten).
    pub fn added(&self) -> u64 {
        self.added
    }

    /// Adds one transition; `next_obs` is the episode's final observation where it ended.
    pub fn push(
        &mut self,
        obs: &[f32],
        action: &[f32],
        reward: f32,
        next_obs: &[f32],
        terminated: bool,
    ) {
        let (k, o, a) = (self.pos, self.obs_dim, self.act_dim);
        self.obs[k * o..(k + 1) * o].copy_from_slice(obs);
        self.next_obs[k * o..(k + 1) * o].copy_from_slice(next_obs);
        self.actions[k * a..(k + 1) * a].copy_from_slice(action);
        self.rewards[k] = reward;
        self.terminated[k] = terminated as u8 as f32;
        self.pos = (self.pos + 1) % self.capacity;
        self.len = (self.len + 1).min(self.capacity);
        self.added += 1;
    }

    /// Fills `batch` with `rows` transitions drawn uniformly with replacement (as SB3).
    ///
    /// # Panics
    /// If the buffer is empty: training starts after `learning_starts` steps.
    pub fn sample_into(&self, rows: usize, rng: &mut impl Rng, batch: &mut TaskBatch) {
        assert!(self.len > 0, "sampling from an empty replay buffer");
        let (o, a) = (self.obs_dim, self.act_dim);
        batch.obs.resize(rows * o, 0.0);
        batch.next_obs.resize(rows * o, 0.0);
        batch.actions.resize(rows * a, 0.0);
        batch.rewards.resize(rows, 0.0);
        batch.terminated.resize(rows, 0.0);
        for r in 0..rows {
            let k = rng.random_range(0..self.len);
            batch.obs[r * o..(r + 1) * o].copy_from_slice(&self.obs[k * o..(k + 1) * o]);
            (batch.next_obs[r * o..(r + 1) * o])
                .copy_from_slice(&self.next_obs[k * o..(k + 1) * o]);
            batch.actions[r * a..(r + 1) * a].copy_from_slice(&self.actions[k * a..(k + 1) * a]);
            batch.rewards[r] = self.rewards[k];
            batch.terminated[r] = self.terminated[k];
        }
    }
}

/// The file of the chunk holding transitions `[start, end)`.
fn chunk_path(dir: &Path, [start, end]: [u64; 2]) -> PathBuf {
    dir.join(format!("chunk-{start:012}-{end:012}.f32"))
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    /// Transition `i`: observation `[i, -i]`, action `[10 i]`, reward `i`, next observation
    /// `[i + 0.5, 0]`, terminated when `i` is a multiple of 3.
    fn push(buffer: &mut TaskReplay, i: usize) {
        let x = i as f32;
        buffer.push(
            &[x, -x],
            &[10.0 * x],
            x,
            &[x + 0.5, 0.0],
            i.is_multiple_of(3),
        );
    }

    #[test]
    fn draws_keep_each_transition_whole_and_the_ring_drops_the_oldest() {
        let mut buffer = TaskReplay::new(5, 2, 1);
        for i in 0..8 {
            push(&mut buffer, i);
        }
        assert_eq!((buffer.len(), buffer.added()), (5, 8));
        let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
        let mut batch = TaskBatch::default();
        buffer.sample_into(200, &mut rng, &mut batch);
        let mut seen = [false; 8];
        assert_eq!(batch.rewards.len(), 200);
        for r in 0..200 {
            let i = batch.rewards[r];
            assert_eq!(batch.obs[2 * r..2 * r + 2], [i, -i]);
            assert_eq!(batch.actions[r], 10.0 * i);
            assert_eq!(batch.next_obs[2 * r..2 * r + 2], [i + 0.5, 0.0]);
            assert_eq!(
                batch.terminated[r],
                (i as usize).is_multiple_of(3) as u8 as f32
            );
            seen[i as usize] = true;
        }
        // Transitions 0-2 were overwritten; 3-7 are all drawn.
        assert_eq!(seen, [false, false, false, true, true, true, true, true]);
    }

    /// A fresh folder for one test.
    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("polytask-replay-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn same(a: &TaskReplay, b: &TaskReplay) {
        assert_eq!((a.len, a.pos, a.added), (b.len, b.pos, b.added));
        assert_eq!(
            (&a.obs, &a.next_obs, &a.actions),
            (&b.obs, &b.next_obs, &b.actions)
        );
        assert_eq!((&a.rewards, &a.terminated), (&b.rewards, &b.terminated));
    }

    fn chunks(dir: &Path) -> usize {
        let entries = fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name());
        entries
            .filter(|n| n.to_string_lossy().starts_with("chunk-"))
            .count()
    }

    #[test]
    fn saves_write_only_what_is_new_and_load_restores_the_ring() {
        let dir = scratch("rounds");
        let mut buffer = TaskReplay::new(5, 2, 1);
        let mut saved_sizes = Vec::new();
        for (round, upto) in [3, 4, 9, 15, 15].into_iter().enumerate() {
            while buffer.added() < upto {
                let next = buffer.added() as usize;
                push(&mut buffer, next);
            }
            buffer.save(&dir).unwrap();
            let loaded = TaskReplay::load(&dir, 5, 2, 1, upto).unwrap();
            same(&buffer, &loaded);
            saved_sizes.push((round, buffer.saved.clone()));
        }
        // 0-3, then 3-4, then 4-9 (0-4 overwritten now, dropped one save later), then
        // 10-15 (only the last 5 of 9-15 are held), then nothing new.
        let last: Vec<[u64; 2]> = saved_sizes.last().unwrap().1.clone();
        assert_eq!(last, [[10, 15]]);
        assert_eq!(chunks(&dir), 1);
        assert_eq!(saved_sizes[2].1, [[0, 3], [3, 4], [4, 9]]);
        assert_eq!(saved_sizes[3].1, [[4, 9], [10, 15]]);
    }

    #[test]
    fn a_load_stops_at_the_checkpoints_count_and_the_next_save_rewrites_from_there() {
        let dir = scratch("upto");
        let mut buffer = TaskReplay::new(4, 2, 1);
        (0..3).for_each(|i| push(&mut buffer, i));
        buffer.save(&dir).unwrap();
        let mut at_checkpoint = TaskReplay::load(&dir, 4, 2, 1, 3).unwrap();
        // Saved again past the checkpoint (then the run died before its checkpoint).
        (3..7).for_each(|i| push(&mut buffer, i));
        buffer.save(&dir).unwrap();
        let mut resumed = TaskReplay::load(&dir, 4, 2, 1, 3).unwrap();
        same(&at_checkpoint, &resumed);
        for b in [&mut at_checkpoint, &mut resumed] {
            (3..6).for_each(|i| push(b, i));
        }
        resumed.save(&dir).unwrap();
        same(&at_checkpoint, &TaskReplay::load(&dir, 4, 2, 1, 6).unwrap());
        let err = TaskReplay::load(&dir, 4, 2, 1, 9).unwrap_err().to_string();
        assert!(err.contains("counts 9"), "{err}");
    }

    #[test]
    fn a_loaded_buffer_saves_on_from_where_it_was() {
        let dir = scratch("resume");
        let mut buffer = TaskReplay::new(6, 2, 1);
        (0..4).for_each(|i| push(&mut buffer, i));
        buffer.save(&dir).unwrap();
        let mut loaded = TaskReplay::load(&dir, 6, 2, 1, 4).unwrap();
        for b in [&mut buffer, &mut loaded] {
            (4..8).for_each(|i| push(b, i));
        }
        loaded.save(&dir).unwrap();
        same(&buffer, &TaskReplay::load(&dir, 6, 2, 1, 8).unwrap());
    }

    #[test]
    fn a_buffer_of_another_shape_or_a_short_chunk_is_refused_by_name() {
        let dir = scratch("refuse");
        let mut buffer = TaskReplay::new(4, 2, 1);
        (0..3).for_each(|i| push(&mut buffer, i));
        buffer.save(&dir).unwrap();
        let err = TaskReplay::load(&dir, 4, 3, 1, 3).unwrap_err().to_string();
        assert!(
            err.contains("replay.json") && err.contains("needs 4, 3 and 1"),
            "{err}"
        );
        let chunk = chunk_path(&dir, [0, 3]);
        fs::write(&chunk, [0u8; 7]).unwrap();
        let err = TaskReplay::load(&dir, 4, 2, 1, 3).unwrap_err().to_string();
        assert!(err.contains("chunk-") && err.contains("expected"), "{err}");
    }
}
