//! Stepping a vector env whose `gym:` tasks run in worker processes allocates nothing in the
//! training process: a counting global allocator sees no allocation over many steps of
//! `gym:CartPole-v1` in two worker processes beside a native task, episodes ending. (The
//! workers' own Python allocations are theirs; alone in its test binary, so that no other
//! test allocates meanwhile.) Needs the `python` feature and Python Gymnasium; skipped with a
//! message without Gymnasium unless `POLYTASK_REQUIRE_GYMNASIUM` is set.

#![cfg(feature = "python")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use polytask::config::Task;
use polytask::envs::Registry;
use polytask::vec_env::{Options, VecEnv};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn task(env: &str, num_envs: usize) -> Task {
    Task {
        name: env.to_string(),
        env: env.to_string(),
        params: polytask::envs::Params::new(),
        num_envs,
        role: polytask::config::Role::Main,
        normalize_obs: false,
        normalize_reward: false,
        threshold: None,
        obs_shape: Vec::new(),
    }
}

#[test]
fn a_step_with_worker_processes_allocates_nothing() {
    if let Err(e) = polytask::envs::adapters::gymnasium_version() {
        assert!(
            std::env::var_os("POLYTASK_REQUIRE_GYMNASIUM").is_none(),
            "POLYTASK_REQUIRE_GYMNASIUM is set, but {e}"
        );
        eprintln!("SKIPPED a_step_with_worker_processes_allocates_nothing: {e}");
        return;
    }
    let tasks = [task("CartPole-v1", 4), task("gym:CartPole-v1", 4)];
    let options = Options {
        python_workers: Some(2),
        worker_exe: Some(env!("CARGO_BIN_EXE_polytask").into()),
        ..Options::default()
    };
    let mut env = VecEnv::with_options(&tasks, &Registry::builtin(), 1, &options).unwrap();
    for _ in 0..50 {
        env.step().unwrap();
    }
    // One clean attempt of three (the test harness's threads may allocate now and then).
    let mut counts = Vec::new();
    let mut episodes = 0;
    for _attempt in 0..3 {
        let before = ALLOCATIONS.load(Ordering::SeqCst);
        for i in 0..1000usize {
            for (k, a) in env.actions_mut().iter_mut().enumerate() {
                *a = ((i + k) % 2) as f32;
            }
            env.step().unwrap();
            episodes += env.finished_episodes().count();
        }
        counts.push(ALLOCATIONS.load(Ordering::SeqCst) - before);
        if counts.last() == Some(&0) {
            break;
        }
    }
    assert_eq!(counts.last(), Some(&0), "{counts:?} allocations");
    assert!(episodes > 100, "{episodes}");
}
