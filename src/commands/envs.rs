//! `polytask envs`: the registered environment ids with their spaces, limits and parameters.

use std::fmt::Write as _;

use polytask_envs::{EnvSpec, Params, Registry};

/// Formats the listing of every id in `registry`, one block per environment.
pub fn listing(registry: &Registry) -> String {
    let mut text = String::new();
    for spec in registry.specs() {
        describe(spec, &mut text);
    }
    text
}

fn describe(spec: &EnvSpec, text: &mut String) {
    let _ = writeln!(text, "{}", spec.id);
    if !spec.summary.is_empty() {
        let _ = writeln!(text, "  {}", spec.summary);
    }
    match spec.make(&Params::new()) {
        Ok(env) => {
            let _ = writeln!(text, "  observation: {}", env.observation_space());
            let _ = writeln!(text, "  action:      {}", env.action_space());
        }
        Err(e) => {
            let _ = writeln!(text, "  (cannot be made with default parameters: {e})");
        }
    }
    let limit = spec
        .max_episode_steps
        .map_or("none".to_string(), |s| s.to_string());
    let threshold = spec
        .reward_threshold
        .map_or("none".to_string(), |t| t.to_string());
    let _ = writeln!(
        text,
        "  max_episode_steps: {limit}   reward_threshold: {threshold}"
    );
    for p in &spec.params {
        let _ = writeln!(text, "  --param {}={}   {}", p.name, p.default, p.doc);
    }
    text.push('\n');
}
