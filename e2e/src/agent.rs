//! The real `hopgate-agent` process in front of a local service, its human-readable lines
//! (stderr: `connected …`) and its JSON log (stdout) kept apart.

use std::{
    net::SocketAddr,
    process::{Child, ExitStatus, Stdio},
    time::Duration,
};

use hopgate_test_support::{
    LineLog, exit_within, field, hop_command, peak_rss_kib, workspace_binary,
};

use crate::{DataPlane, KEY};

pub struct Agent {
    pub child: Child,
    /// What the agent tells its user (stderr): `connected …`, why it stopped.
    pub output: LineLog,
    /// The agent's JSON log lines (stdout).
    pub logs: LineLog,
}

impl Agent {
    /// The flags that turn the inspector on at a port of its choosing ([`crate::inspector`]).
    pub const INSPECT_ON_ANY_PORT: [&str; 4] = ["--inspect", "on", "--inspect-addr", "127.0.0.1:0"];

    pub fn start(dp: &DataPlane, domain: &str, target: SocketAddr) -> Self {
        Self::start_with_key(dp, domain, target, KEY)
    }

    /// The agent for `domain` with its own API `key`, pinning the debug certificate.
    pub fn start_with_key(dp: &DataPlane, domain: &str, target: SocketAddr, key: &str) -> Self {
        let fingerprint = pinned(dp);
        let pin = ["--fingerprint", &fingerprint, "--debug"];
        Self::spawn(dp.dtls, domain, target, key, &pin)
    }

    /// [`Agent::start`] with more flags (`--host-header rewrite`).
    pub fn start_with_args(
        dp: &DataPlane,
        domain: &str,
        target: SocketAddr,
        args: &[&str],
    ) -> Self {
        Self::start_with_key_and_args(dp, domain, target, KEY, args)
    }

    /// [`Agent::start_with_key`] with more flags.
    pub fn start_with_key_and_args(
        dp: &DataPlane,
        domain: &str,
        target: SocketAddr,
        key: &str,
        args: &[&str],
    ) -> Self {
        let fingerprint = pinned(dp);
        let mut all = vec!["--fingerprint", &fingerprint, "--debug"];
        all.extend_from_slice(args);
        Self::spawn(dp.dtls, domain, target, key, &all)
    }

    /// The agent in production mode: it verifies the gateway's certificate against
    /// `ca_file` and the name `gw.hopgate.test`.
    pub fn start_verified(
        dp: &DataPlane,
        domain: &str,
        target: SocketAddr,
        key: &str,
        ca_file: &std::path::Path,
    ) -> Self {
        let ca = ca_file.display().to_string();
        Self::spawn(dp.dtls, domain, target, key, &["--ca-file", &ca])
    }

    /// The agent for `domain`, dialing `server` (a load balancer in front of pods that
    /// share `dp`'s debug certificate).
    pub fn start_via(
        dp: &DataPlane,
        server: SocketAddr,
        domain: &str,
        target: SocketAddr,
        key: &str,
    ) -> Self {
        let fingerprint = pinned(dp);
        let pin = ["--fingerprint", &fingerprint, "--debug"];
        Self::spawn(server, domain, target, key, &pin)
    }

    /// The agent for `domain` dialing `server` with exactly `args` for verification and
    /// transport (no pinned certificate added).
    pub fn start_bare(server: SocketAddr, domain: &str, target: SocketAddr, args: &[&str]) -> Self {
        Self::spawn(server, domain, target, KEY, args)
    }

    /// [`Agent::start_via`] with more flags (`--transport tcp --tcp-server ADDR`).
    pub fn start_via_with_args(
        dp: &DataPlane,
        server: SocketAddr,
        domain: &str,
        target: SocketAddr,
        args: &[&str],
    ) -> Self {
        let fingerprint = pinned(dp);
        let mut all = vec!["--fingerprint", &fingerprint, "--debug"];
        all.extend_from_slice(args);
        Self::spawn(server, domain, target, KEY, &all)
    }

    /// [`Agent::start_via_with_args`] with `HOP_CLIENT_…` variables set as well.
    pub fn start_via_with_env_and_args(
        dp: &DataPlane,
        server: SocketAddr,
        (domain, target): (&str, SocketAddr),
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Self {
        let fingerprint = pinned(dp);
        let mut all = vec!["--fingerprint", &fingerprint, "--debug"];
        all.extend_from_slice(args);
        Self::spawn_with_env(server, domain, target, KEY, &all, env)
    }

    /// [`Agent::start_via`] with more flags.
    pub fn start_via_with_key_and_args(
        dp: &DataPlane,
        server: SocketAddr,
        domain: &str,
        target: SocketAddr,
        key: &str,
        args: &[&str],
    ) -> Self {
        let fingerprint = pinned(dp);
        let mut all = vec!["--fingerprint", &fingerprint, "--debug"];
        all.extend_from_slice(args);
        Self::spawn(server, domain, target, key, &all)
    }

    /// The agent for `domain` with `key`, pinning the debug certificate, with its metrics
    /// listener on port 0 (it logs where: [`Agent::metrics_addr`]).
    pub fn start_with_metrics(dp: &DataPlane, domain: &str, target: SocketAddr, key: &str) -> Self {
        let fingerprint = pinned(dp);
        let args = [
            "--fingerprint",
            &fingerprint,
            "--debug",
            "--metrics-listen",
            "127.0.0.1:0",
        ];
        Self::spawn(dp.dtls, domain, target, key, &args)
    }

    fn spawn(
        server: SocketAddr,
        domain: &str,
        target: SocketAddr,
        key: &str,
        extra: &[&str],
    ) -> Self {
        Self::spawn_with_env(server, domain, target, key, extra, &[])
    }

    fn spawn_with_env(
        server: SocketAddr,
        domain: &str,
        target: SocketAddr,
        key: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let target = target.to_string();
        let server = server.to_string();
        // Many agents run at once: the inspector only where a test asks for it
        // (`--inspect on --inspect-addr 127.0.0.1:0`). One session per tunnel unless a
        // test asks for more (`--ha-connections 2`): most tests run one pod, and count its
        // sessions and handshakes.
        let mut child = hop_command(workspace_binary("hopgate-agent"))
            .env("HOP_CLIENT_INSPECT", "off")
            .env("HOP_CLIENT_HA_CONNECTIONS", "1")
            .envs(env.iter().copied())
            .args(["http", &target, "--domain", domain, "--key", key])
            .args(["--server", &server, "--server-name", "gw.hopgate.test"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting hopgate-agent");
        let tag = format!("agent {}", child.id());
        let (logs, output) = (LineLog::default(), LineLog::default());
        logs.follow(child.stdout.take().unwrap(), format!("{tag} stdout"));
        output.follow(child.stderr.take().unwrap(), format!("{tag} stderr"));
        Self {
            child,
            output,
            logs,
        }
    }

    /// The agent's metrics address, from its `metrics listening` log line.
    pub fn metrics_addr(&self, limit: Duration) -> SocketAddr {
        let line = self
            .logs
            .wait_for("`metrics listening` line", limit, |line| {
                line.contains("\"msg\":\"metrics listening\"")
            });
        field(&line, "metrics")
            .expect("the metrics address")
            .parse()
            .unwrap()
    }

    /// Waits for the agent's `connected` line.
    pub fn wait_connected(&self, limit: Duration) {
        self.output.wait_for("`connected` line", limit, |line| {
            line.starts_with("connected")
        });
    }

    /// The agent's exit status, if it exits within `limit`.
    pub async fn exited_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The agent's exit status, blocking this thread until it exits or `limit` passes.
    pub fn exit_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        exit_within(&mut self.child, limit)
    }

    /// Everything the agent told its user so far.
    pub fn said(&self) -> String {
        self.output.text()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The agent's peak resident memory so far, in MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        peak_rss_kib(self.child.id()) as f64 / 1024.0
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `dp`'s debug certificate fingerprint, as the agent's `--fingerprint` takes it.
fn pinned(dp: &DataPlane) -> String {
    dp.fingerprint.expect("a debug-mode data-plane").to_string()
}
