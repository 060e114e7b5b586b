//! Stepping the vector env allocates nothing: a counting global allocator sees no
//! allocation, in any thread, over many steps of mixed tasks (classic control and MinAtar)
//! with episodes ending. (Alone in its test binary, so that no other test allocates
//! meanwhile.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use polytask::config::Task;
use polytask::envs::{Registry, Space};
use polytask::vec_env::VecEnv;

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

#[test]
fn a_step_allocates_nothing() {
    let registry = Registry::builtin();
    let task = |env: &str, num_envs, limit: Option<f64>| Task {
        name: env.to_string(),
        env: env.to_string(),
        params: limit
            .map(|l| ("max_episode_steps", l))
            .into_iter()
            .collect(),
        num_envs,
        role: polytask::config::Role::Main,
        normalize_obs: false,
        normalize_reward: false,
        threshold: None,
        obs_shape: Vec::new(),
    };
    let tasks = [
        task("CartPole-v1", 16, Some(30.0)),
        task("Acrobot-v1", 8, Some(20.0)),
        task("Pendulum-v1", 8, Some(10.0)),
        // MinAtar: Seaquest's entity lists keep their room across steps and resets.
        task("MinAtar/Asterix-v1", 2, None),
        task("MinAtar/Breakout-v1", 2, None),
        task("MinAtar/Freeway-v1", 2, Some(60.0)),
        task("MinAtar/Seaquest-v0", 4, None),
        task("MinAtar/SpaceInvaders-v1", 2, None),
    ];
    for threads in [1, 2, 3] {
        let made = ALLOCATIONS.load(Ordering::SeqCst);
        let mut env = VecEnv::new(&tasks, &registry, 1, threads).unwrap();
        // The counter works: making the vector env allocates.
        assert!(ALLOCATIONS.load(Ordering::SeqCst) > made);
        let spaces: Vec<(std::ops::Range<usize>, Space)> = env
            .tasks()
            .iter()
            .map(|t| (t.actions.clone(), t.action_space.clone()))
            .collect();
        // Warm up: thread start-up, first park/unpark, lazy initialisation.
        for _ in 0..50 {
            env.step().unwrap();
        }
        // A step that allocates would allocate in each of the 2000 steps of every attempt;
        // the test harness's own threads may allocate now and then on a loaded machine, so
        // one clean attempt out of three is required.
        let mut counts = Vec::new();
        let (mut episodes, mut sum) = (0, 0.0);
        for _attempt in 0..3 {
            let before = ALLOCATIONS.load(Ordering::SeqCst);
            (episodes, sum) = run_steps(&mut env, &spaces);
            counts.push(ALLOCATIONS.load(Ordering::SeqCst) - before);
            if counts.last() == Some(&0) {
                break;
            }
        }
        assert_eq!(
            counts.last(),
            Some(&0),
            "{threads} threads: {counts:?} allocations"
        );
        assert!(episodes > 1000 && sum.is_finite(), "{episodes}");
    }
}

/// 2000 steps with varied actions; the number of finished episodes and a checksum.
fn run_steps(env: &mut VecEnv, spaces: &[(std::ops::Range<usize>, Space)]) -> (usize, f64) {
    let mut episodes = 0;
    let mut sum = 0.0;
    for i in 0..2000u32 {
        for (range, space) in spaces {
            let n = match space {
                Space::Discrete(n) => *n as u32,
                Space::Box(_) => 3,
            };
            for (j, a) in env.actions_mut()[range.clone()].iter_mut().enumerate() {
                *a = ((i + j as u32) % n) as f32;
            }
        }
        env.step().unwrap();
        for (_, stats) in env.finished_episodes() {
            episodes += 1;
            sum += stats.episode_return;
        }
        sum += f64::from(env.task_observations(1)[0]) + f64::from(env.rewards()[0]);
    }
    (episodes, sum)
}
