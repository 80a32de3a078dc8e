//! Running one of HopGate's binaries the way an operator would, with only the `HOP_…`
//! variables the test sets: those of the environment the tests run in are removed, so a
//! developer's shell can't change a result.

use std::{ffi::OsStr, process::Command};

/// A command for `binary` (a test's `env!("CARGO_BIN_EXE_…")`) without the `HOP_…`
/// variables of the test's own environment.
pub fn hop_command(binary: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new(binary);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("HOP_") {
            command.env_remove(name);
        }
    }
    command
}

/// Runs `binary ARGS` to completion with only `env` among the `HOP_…` variables and
/// returns its exit code (`None` if a signal ended it), stdout and stderr.
pub fn run(binary: &str, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let output = hop_command(binary)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("running {binary}: {e}"));
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    (
        output.status.code(),
        text(output.stdout),
        text(output.stderr),
    )
}
