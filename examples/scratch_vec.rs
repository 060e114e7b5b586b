use std::time::Instant;
use polytask::config::Task;
use polytask::envs::Registry;
use polytask::vec_env::VecEnv;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args[1].parse().unwrap();
    let threads: usize = args[2].parse().unwrap();
    let fill: bool = args[3] == "1";
    let registry = Registry::builtin();
    let task = Task { name: "c".into(), env: "CartPole-v1".into(), params: Default::default(), num_envs: n };
    let mut v = VecEnv::new(&[task], &registry, 0, threads).unwrap();
    let steps = 8_000_000 / n;
    for rep in 0..5 {
        let start = Instant::now();
        let mut x = 0u32;
        for _ in 0..steps {
            if fill {
                for a in v.actions_mut() { x = x.wrapping_mul(1664525).wrapping_add(1013904223); *a = (x >> 31) as f32; }
            }
            v.step().unwrap();
        }
        let r = (steps * n) as f64 / start.elapsed().as_secs_f64();
        println!("{rep}: {:.1}M", r / 1e6);
    }
}
