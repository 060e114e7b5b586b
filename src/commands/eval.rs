//! `polytask eval`: loads a checkpoint and runs its policy on its tasks.

use std::path::PathBuf;

use polytask_agents::actor_critic::ActorCritic;
use polytask_agents::device;
use polytask_agents::sac::Sac;
use polytask_envs::Registry;

use crate::config::RawConfig;
use crate::error::usage;
use crate::train::{self, Checkpoint, EvalOptions, SacPolicy};
use crate::vec_env::VecEnv;

/// Arguments of `polytask eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// A checkpoint folder (`<run dir>/checkpoint`) or a run directory holding one.
    pub checkpoint: PathBuf,
    /// Episodes per task.
    #[arg(long, default_value_t = 10)]
    pub episodes: usize,
    /// Take the most likely action instead of sampling.
    #[arg(long)]
    pub deterministic: bool,
    /// Seed of the evaluation environments and sampling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    pub device: String,
}

/// Runs `polytask eval`.
pub fn run(args: &EvalArgs, registry: &Registry) -> anyhow::Result<()> {
    if args.episodes == 0 {
        return Err(usage("--episodes must be at least 1"));
    }
    let checkpoint = Checkpoint::open(&checkpoint_folder(&args.checkpoint))?;
    let (dir, state) = (&checkpoint.dir, &checkpoint.state);
    let raw: RawConfig = toml::from_str(&state.config).map_err(|e| {
        usage(format!(
            "checkpoint {}: its config does not parse: {e}",
            dir.display()
        ))
    })?;
    let config = raw.validate(registry)?;
    let device = device::resolve(args.device.parse().map_err(usage)?).map_err(usage)?;
    let layouts = VecEnv::layouts(&config.tasks, registry)?;
    let mut norms = train::normalizers(&config, &layouts);
    checkpoint.restore_normalizers(&mut norms)?;
    tch::manual_seed(args.seed as i64);
    let options = EvalOptions {
        seed: args.seed,
        episodes: args.episodes,
        deterministic: args.deterministic,
        python_workers: config.python_workers,
    };
    let results = match &config.sac {
        Some(section) => {
            let (tasks, boxes) = train::sac_tasks(&layouts)?;
            let learner = section.learner(&config.network.hidden);
            let mut sac = Sac::new(&tasks, &learner, device);
            let model = dir.join("model.safetensors");
            sac.load_named_state(&checkpoint.read_tensors(false)?)
                .map_err(|e| usage(format!("cannot load {}: {e}", model.display())))?;
            let policy = SacPolicy {
                sac: &sac,
                boxes: &boxes,
            };
            train::evaluate(&policy, &config.tasks, &norms, registry, &options)?
        }
        None => {
            let shapes = train::network_shapes(&config, &layouts);
            let net_config = train::net_config(&config, state.kernels);
            let mut net = ActorCritic::new(&shapes, &net_config, device);
            checkpoint.load_weights(&mut net)?;
            train::evaluate(&net, &config.tasks, &norms, registry, &options)?
        }
    };
    for e in &results {
        println!("{}: {}", e.task, e.summary());
    }
    Ok(())
}

/// `path` itself when it holds a checkpoint, else its `checkpoint` subfolder (a run
/// directory) when that holds one (or a survivor of an interrupted save).
fn checkpoint_folder(path: &std::path::Path) -> PathBuf {
    let inner = train::checkpoint_dir(path);
    let holds = |p: &std::path::Path| matches!(Checkpoint::find(p), Ok(Some(_)));
    // A checkpoint that cannot be read (another format version, damaged) is still the one
    // meant: opening it then says what is wrong with it.
    let present = |p: &std::path::Path| p.join("state.json").exists() || holds(p);
    if !path.join("state.json").exists() && present(&inner) {
        inner
    } else {
        path.to_path_buf()
    }
}
