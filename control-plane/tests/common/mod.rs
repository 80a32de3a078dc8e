//! A real `hopgate-control-plane` process on port-0 listeners, its databases (a temporary
//! SQLite directory, or a fresh Postgres database per test), and an admin API client.

#![allow(dead_code, unreachable_pub)]

pub mod acme;
pub mod db;
pub mod http;
pub mod pebble;

use std::{
    net::SocketAddr,
    process::{Child, Command, Stdio},
    time::Duration,
};

use hopgate_test_support::{LineLog, unused_port};

pub use self::{db::Database, http::Api};

pub const ADMIN_KEY: &str = "admin-key-for-tests-0123456789";
pub const INTERNAL_TOKEN: &str = "internal-token-for-tests-0123456789";

pub use hopgate_test_support::TempDir;

/// A running control-plane.
pub struct ControlPlane {
    child: Option<Child>,
    env: Vec<(String, String)>,
    pub admin: SocketAddr,
    pub internal: SocketAddr,
    pub metrics: SocketAddr,
    /// Every stdout line of every process started by this handle.
    pub log: LineLog,
}

/// The value of a string field in a JSON log line.
pub fn field(line: &str, name: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    value[name].as_str().map(str::to_owned)
}

/// A command for the binary with only the given `HOP_` settings.
pub fn command(env: &[(String, String)]) -> Command {
    let mut command =
        hopgate_test_support::hop_command(env!("CARGO_BIN_EXE_hopgate-control-plane"));
    command.envs(env.iter().map(|(k, v)| (k, v)));
    command
}

impl ControlPlane {
    /// `/metrics` as text.
    pub async fn metrics_text(&self) -> String {
        reqwest::get(format!("http://{}/metrics", self.metrics))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Starts the binary on `db` with test keys; `extra` overrides.
    ///
    /// The listeners are on ports from below the kernel's ephemeral range
    /// ([`unused_port`]), not port 0: [`ControlPlane::restart`] binds the same ones again,
    /// and a port-0 port given up could meanwhile go to any other test's socket.
    pub fn start(db: &Database, extra: &[(&str, &str)]) -> Self {
        let listen = || format!("127.0.0.1:{}", unused_port());
        let mut env: Vec<(String, String)> = vec![
            ("HOP_ADMIN_API_KEY".into(), ADMIN_KEY.into()),
            ("HOP_INTERNAL_TOKEN".into(), INTERNAL_TOKEN.into()),
            ("HOP_ADMIN_LISTEN".into(), listen()),
            ("HOP_INTERNAL_LISTEN".into(), listen()),
            ("HOP_METRICS_LISTEN".into(), listen()),
            ("HOP_DB_ACQUIRE_TIMEOUT".into(), "2s".into()),
        ];
        env.extend(db.env());
        for (k, v) in extra {
            env.retain(|(key, _)| key != k);
            env.push((k.to_string(), v.to_string()));
        }
        let log = LineLog::default();
        let (child, [admin, internal, metrics]) = spawn(&env, &log);
        Self {
            child: Some(child),
            env,
            admin,
            internal,
            metrics,
            log,
        }
    }

    /// The running process's id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("a running control-plane").id()
    }

    pub fn api(&self) -> Api {
        Api::new(self.admin, ADMIN_KEY)
    }

    pub fn internal_url(&self) -> String {
        format!("http://{}", self.internal)
    }

    /// Kills the process (SIGKILL: no goodbye).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the process and starts a new one on the same database and addresses.
    pub fn restart(&mut self) {
        self.kill();
        let (child, _) = spawn(&self.env, &self.log);
        self.child = Some(child);
    }

    /// All log lines so far, joined.
    pub fn log_text(&self) -> String {
        self.log.text()
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts the binary with `env`, its stdout into `log`; waits for its `listening` line
/// (after those of earlier processes in `log`) and returns its addresses.
fn spawn(env: &[(String, String)], log: &LineLog) -> (Child, [SocketAddr; 3]) {
    let mut child = command(env)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("control-plane binary runs");
    let from = log.len();
    let tag = format!("control-plane {} stdout", child.id());
    log.follow(child.stdout.take().unwrap(), tag);
    let (_, listening) =
        log.wait_for_blocking_from(from, "`listening` line", Duration::from_secs(60), |line| {
            field(line, "msg").as_deref() == Some("listening")
        });
    let addr = |name| field(&listening, name).unwrap().parse().unwrap();
    (child, [addr("admin"), addr("internal"), addr("metrics")])
}

/// Polls `check` every 20 ms until it is true or `timeout` passes.
pub async fn wait_for(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}
