//! End-to-end tests of the `polytask` binary's simple commands and its error reporting.

use std::process::{Command, Output};

fn polytask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_polytask"))
        .args(args)
        .output()
        .expect("the polytask binary runs")
}

/// Every built-in environment id.
const BUILTIN_IDS: [&str; 5] = [
    "CartPole-v1",
    "Acrobot-v1",
    "MountainCar-v0",
    "MountainCarContinuous-v0",
    "Pendulum-v1",
];

/// The MinAtar ids, each replayed against the `minatar` package.
const MINATAR_IDS: [&str; 10] = [
    "MinAtar/Asterix-v0",
    "MinAtar/Asterix-v1",
    "MinAtar/Breakout-v0",
    "MinAtar/Breakout-v1",
    "MinAtar/Freeway-v0",
    "MinAtar/Freeway-v1",
    "MinAtar/Seaquest-v0",
    "MinAtar/Seaquest-v1",
    "MinAtar/SpaceInvaders-v0",
    "MinAtar/SpaceInvaders-v1",
];

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A usage error: exit code 2, one paragraph on stderr that contains `needle`, no panic.
fn assert_usage_error(args: &[&str], needle: &str) {
    let out = polytask(args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: `{needle}` not in: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
    assert!(
        !err.trim_end().contains("\n\n"),
        "more than one paragraph: {err}"
    );
}

#[test]
fn envs_lists_every_builtin_id_with_spaces_and_parameters() {
    let out = polytask(&["envs"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    for id in BUILTIN_IDS.iter().chain(&MINATAR_IDS) {
        assert!(text.contains(id), "{id} missing from:\n{text}");
    }
    assert!(text.contains("Discrete(2)"), "{text}");
    assert!(text.contains("--param gravity=9.8"), "{text}");
}

#[test]
fn rollout_is_deterministic_and_well_formed() {
    let args = [
        "rollout",
        "--env",
        "CartPole-v1",
        "--seed",
        "7",
        "--steps",
        "300",
    ];
    let (a, b) = (polytask(&args), polytask(&args));
    assert!(a.status.success(), "{}", stderr(&a));
    assert_eq!(a.stdout, b.stdout);
    let text = String::from_utf8(a.stdout).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 300);
    assert_eq!(lines[0]["reset"], true);
    let mut episodes = 1;
    for pair in lines.windows(2) {
        let done = pair[0]["terminated"] == true || pair[0]["truncated"] == true;
        if done {
            episodes += 1;
            assert_eq!(pair[1]["reset"], true);
        } else {
            assert_eq!(pair[0]["next_obs"], pair[1]["obs"], "observations chain");
            assert!(pair[1].get("reset").is_none());
        }
    }
    assert!(
        episodes > 3,
        "a random CartPole policy ends episodes quickly"
    );
    let other = polytask(&[
        "rollout",
        "--env",
        "CartPole-v1",
        "--seed",
        "8",
        "--steps",
        "300",
    ]);
    assert_ne!(
        text.as_bytes(),
        &other.stdout[..],
        "another seed gives another trajectory"
    );
}

#[test]
fn rollout_takes_parameters_and_continuous_actions() {
    let out = polytask(&[
        "rollout",
        "--env",
        "Pendulum-v1",
        "--param",
        "g=3.7",
        "--steps",
        "5",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let first: serde_json::Value = serde_json::from_str(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first["action"].as_array().map(Vec::len), Some(1));
}

#[test]
fn bad_input_is_a_usage_error_naming_what_was_wrong() {
    assert_usage_error(
        &["rollout", "--env", "CartPol-v1"],
        "unknown environment id `CartPol-v1`",
    );
    assert_usage_error(
        &["rollout", "--env", "CartPole-v1", "--param", "gravty=1"],
        "`gravty`",
    );
    assert_usage_error(
        &["rollout", "--env", "CartPole-v1", "--param", "gravity"],
        "NAME=VALUE",
    );
    assert_usage_error(
        &["rollout", "--env", "CartPole-v1", "--param", "gravity=x"],
        "must be a number",
    );
    assert_usage_error(
        &["rollout", "--env", "CartPole-v1", "--param", "length=-1"],
        "`length`",
    );
    assert_usage_error(
        &["rollout", "--env", "CartPole-v1", "--steps", "many"],
        "--steps",
    );
    assert_usage_error(&["rollout"], "--env");
    assert_usage_error(&["trian"], "trian");
}

/// `polytask rollout` replays in the real Gymnasium (and for MinAtar ids, the real `minatar`
/// package) with the same observations. Runs when the Python named by `POLYTASK_PYTHON`
/// (which `scripts/python.sh` sets to its venv with both; default `python3`) can import
/// gymnasium, the MinAtar ids when it can import minatar too; otherwise says so.
#[test]
fn rollouts_replay_in_gymnasium_when_it_is_installed() {
    let python = std::env::var("POLYTASK_PYTHON").unwrap_or_else(|_| "python3".into());
    let importable = Command::new(&python)
        .args(["-c", "import gymnasium"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !importable {
        eprintln!("skipped: `{python}` cannot import gymnasium (set POLYTASK_PYTHON)");
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/replay_rollout.py");
    let minatar = Command::new(&python)
        .args(["-c", "import minatar"])
        .output()
        .is_ok_and(|o| o.status.success());
    let mut ids: Vec<&str> = BUILTIN_IDS.to_vec();
    if minatar {
        ids.extend(MINATAR_IDS);
    } else if std::env::var_os("POLYTASK_REQUIRE_GYMNASIUM").is_some() {
        panic!("POLYTASK_REQUIRE_GYMNASIUM is set, but `{python}` cannot import minatar");
    } else {
        eprintln!("MinAtar replays skipped: `{python}` cannot import minatar");
    }
    for id in ids {
        let out = Command::new(&python)
            .args([
                script,
                "--env",
                id,
                "--seed",
                "11",
                "--polytask",
                env!("CARGO_BIN_EXE_polytask"),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{id}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        );
    }
}
