//! The binaries of other workspace crates, built before a test runs them: a test of one
//! crate that starts another crate's binary (the end-to-end tests start all three) must
//! not run a stale one left in `target/` by an earlier build.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

/// The workspace's root (this crate is `shared/test-support`).
const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// The path of the workspace binary `name`, built (once per test process, and once per
/// nextest run) by the same cargo invocation that built the tests.
///
/// The invocation is the one `cargo nextest run --workspace` makes itself (`cargo test
/// --no-run --workspace`): right after that build every unit is fresh, and it finishes in
/// about a second. Narrower commands are not: `cargo build -p hopgate-agent` or `cargo
/// build --workspace --bins` resolve features without the dev-dependencies and rebuild
/// dozens of shared crates (tokio, rustls, …) with a different feature set, which takes
/// many minutes on a small machine.
pub fn workspace_binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let dir = profile_dir();
    BUILT.get_or_init(|| build_once_per_run(&dir));
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing after the workspace build",
        path.display()
    );
    path
}

/// `target/<profile>`: where this test binary's own build put the binaries (it lives in
/// `target/<profile>/deps`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent()
        .and_then(Path::parent)
        .expect("the test binary is in target/<profile>/deps")
        .to_path_buf()
}

/// Builds unless another test process of this nextest run already did (nextest runs each
/// test in its own process; `NEXTEST_RUN_ID` names the run).
fn build_once_per_run(dir: &Path) {
    let run = std::env::var("NEXTEST_RUN_ID").ok();
    let stamp = dir.join(".hopgate-binaries-built");
    if run.is_some() && std::fs::read_to_string(&stamp).ok() == run {
        return;
    }
    build(dir);
    if let Some(run) = run {
        // Written after the build, so a process that reads it finds fresh binaries.
        let _ = std::fs::write(stamp, run);
    }
}

fn build(dir: &Path) {
    let mut cargo = Command::new(env!("CARGO"));
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(set_for_tests_only) {
            cargo.env_remove(name);
        }
    }
    cargo
        .current_dir(WORKSPACE)
        .args(["test", "--no-run", "--workspace", "--locked", "--quiet"]);
    match dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") | None => {}
        Some(profile) => {
            cargo.args(["--profile", profile]);
        }
    }
    let output = cargo.output().expect("running cargo");
    assert!(
        output.status.success(),
        "building the workspace failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Whether `name` is a variable cargo sets for a test it runs (its package's name and
/// version, manifest, …) rather than one of the environment that ran the tests. Build
/// scripts ask to be rerun when such variables change (ring's does for `CARGO_PKG_NAME`
/// and `CARGO_MANIFEST_DIR`), so a build that saw them would not be the one that built
/// the tests: it would rebuild those crates, and the next plain build would again.
fn set_for_tests_only(name: &str) -> bool {
    ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_BIN_"]
        .iter()
        .any(|prefix| name.starts_with(prefix))
        || [
            "CARGO_CRATE_NAME",
            "CARGO_PRIMARY_PACKAGE",
            "CARGO_TARGET_TMPDIR",
            "OUT_DIR",
        ]
        .contains(&name)
}

/// Runs the workspace's `scripts/<script>` (an installer of a pinned tool, such as
/// `schemathesis.sh` or `grpcio.sh`) and returns what it printed: the installed tool's path.
/// Panics with the script's stderr if it fails.
pub fn tool_from_script(script: &str) -> String {
    let path = Path::new(WORKSPACE).join("scripts").join(script);
    let output = Command::new(&path)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", path.display()));
    assert!(
        output.status.success(),
        "{} failed: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}
