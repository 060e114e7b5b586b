//! The `polytask` binary: the command line of [`polytask::app`] over the built-in
//! environments. Exits with 0 (success), 2 (usage or config error) or 1 (runtime failure).

use std::process::ExitCode;

fn main() -> ExitCode {
    polytask::app::main_with(polytask::envs::Registry::builtin())
}
