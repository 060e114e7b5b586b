//! Helpers shared by the integration tests.

use std::path::PathBuf;

/// A fresh, empty directory `polytask-<name>-<pid>` under the system's temporary directory.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("polytask-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
