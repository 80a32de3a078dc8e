//! An optional `perf record` of the pod, with call graphs, for the length of the storm.
//! The call graphs are unwound from DWARF: Rust's release code keeps no frame pointers.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::Context;

/// Time perf takes to attach before it samples.
const ATTACH: Duration = Duration::from_millis(500);

/// A `perf record` attached to one process.
pub(crate) struct Recording {
    perf: Child,
    output: PathBuf,
}

impl Recording {
    /// Starts recording `pid` into `output`.
    pub(crate) async fn start(pid: u32, output: PathBuf) -> anyhow::Result<Self> {
        let perf = Command::new("perf")
            .args(["record", "--call-graph", "dwarf,16384", "-F", "999", "-q"])
            .args(["-p", &pid.to_string(), "-o"])
            .arg(&output)
            .stdout(Stdio::null())
            .spawn()
            .context("starting perf (apt-get install linux-perf)")?;
        tokio::time::sleep(ATTACH).await;
        Ok(Self { perf, output })
    }

    /// Stops recording (SIGINT, as perf expects) and waits until the file is written.
    pub(crate) fn stop(mut self) -> anyhow::Result<()> {
        let signalled = Command::new("kill")
            .args(["-INT", &self.perf.id().to_string()])
            .status()?;
        anyhow::ensure!(signalled.success(), "could not signal perf");
        let status = self.perf.wait()?;
        eprintln!("perf: {} ({status})", self.output.display());
        Ok(())
    }
}
