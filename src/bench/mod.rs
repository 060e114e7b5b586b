//! The measurements of `polytask bench` ([`crate::commands::bench`]): polytask's hot paths,
//! each printed next to a plain baseline measured in the same run.

pub mod envs;
pub mod kernels;
pub mod learner;
pub mod limit;
pub mod sac_update;
pub mod surgery;
pub mod train;

/// Runs `scripts/<script>` with `args` under `python` and reads the steps/s it prints on the
/// line starting with `rate_prefix`, and the versions on the line starting with
/// `versions_prefix`: the Python baselines that the benches time in the same invocation.
fn python_baseline(
    python: &std::path::Path,
    script: &str,
    args: &[&str],
    rate_prefix: &str,
    versions_prefix: &str,
) -> anyhow::Result<(f64, String)> {
    use anyhow::Context;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(script);
    let out = std::process::Command::new(python)
        .arg(&script)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        anyhow::bail!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let sps = stdout
        .lines()
        .find_map(|l| l.strip_prefix(rate_prefix)?.trim().parse().ok())
        .with_context(|| {
            format!(
                "{} printed no `{rate_prefix}<steps/s>` line: {stdout}",
                script.display()
            )
        })?;
    let versions = stdout
        .lines()
        .find_map(|l| l.strip_prefix(versions_prefix))
        .unwrap_or("")
        .to_string();
    Ok((sps, versions))
}
