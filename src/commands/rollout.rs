//! `polytask rollout`: one environment under a seeded random policy, one JSON line per step,
//! so that a trajectory can be replayed in Gymnasium (`scripts/replay_rollout.py`).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use polytask_envs::{Action, Env, Registry};
use rand::SeedableRng;
use serde::Serialize;

use crate::config::parse_params;
use crate::error::usage;

/// Arguments of `polytask rollout`.
#[derive(Debug, clap::Args)]
pub struct RolloutArgs {
    /// Environment id, e.g. CartPole-v1 (see `polytask envs`).
    #[arg(long)]
    pub env: String,
    /// Environment parameter as NAME=VALUE; repeat for several.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Seed of the first reset and of the random policy.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Number of steps to take; episodes that end are reset and go on.
    #[arg(long, default_value_t = 1000)]
    pub steps: u64,
    /// Write the lines to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// One line of output: the transition taken at `step`.
#[derive(Serialize)]
struct Line<'a> {
    step: u64,
    /// Present (true) on the first step of every episode.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    reset: bool,
    obs: &'a [f32],
    action: ActionJson<'a>,
    reward: f64,
    next_obs: &'a [f32],
    terminated: bool,
    truncated: bool,
}

#[derive(Serialize)]
#[serde(untagged)]
enum ActionJson<'a> {
    Discrete(usize),
    Continuous(&'a [f32]),
}

/// Runs `polytask rollout` with the environments of `registry`.
pub fn run(args: &RolloutArgs, registry: &Registry) -> anyhow::Result<()> {
    let params = parse_params(&args.params)?;
    let mut env = registry.make(&args.env, &params).map_err(usage)?;
    let out: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(
            File::create(path)
                .with_context(|| format!("cannot create the rollout file {}", path.display()))?,
        ),
        None => Box::new(io::stdout().lock()),
    };
    let mut out = BufWriter::new(out);
    match write_rollout(&mut *env, args, &mut out).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write the rollout"),
    }
}

fn write_rollout(env: &mut dyn Env, args: &RolloutArgs, out: &mut impl Write) -> io::Result<()> {
    let obs_dim = env.observation_space().flat_dim();
    let action_space = env.action_space().clone();
    let (mut obs, mut next_obs) = (vec![0.0f32; obs_dim], vec![0.0f32; obs_dim]);
    let mut action = vec![0.0f32; action_space.flat_dim()];
    let mut policy = rand_pcg::Pcg64::seed_from_u64(args.seed);
    env.reset(Some(args.seed), &mut obs);
    let mut reset = true;
    for step in 0..args.steps {
        action_space.sample_into(&mut policy, &mut action);
        let act = Action::from_flat(&action_space, &action);
        let result = env.step(act, &mut next_obs).map_err(io::Error::other)?;
        let line = Line {
            step,
            reset,
            obs: &obs,
            action: match act {
                Action::Discrete(a) => ActionJson::Discrete(a),
                Action::Continuous(a) => ActionJson::Continuous(a),
            },
            reward: result.reward,
            next_obs: &next_obs,
            terminated: result.terminated,
            truncated: result.truncated,
        };
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
        reset = result.done();
        if reset {
            env.reset(None, &mut obs);
        } else {
            std::mem::swap(&mut obs, &mut next_obs);
        }
    }
    Ok(())
}
