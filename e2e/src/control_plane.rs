//! A real control-plane process (embedded SQLite in a temporary directory, listeners on
//! port 0) and its admin API, for tests of the table push end to end.

use std::{
    net::SocketAddr,
    process::{Child, Stdio},
    sync::Arc,
    time::Duration,
};

use hopgate_test_support::{LineLog, TempDir, field, hop_command, workspace_binary};
use serde_json::{Value, json};

pub const ADMIN_KEY: &str = "admin-key-for-tests-0123456789abcdef";
pub const INTERNAL_TOKEN: &str = "internal-token-for-tests-0123456789";

pub struct ControlPlane {
    child: Child,
    /// Its JSON log lines.
    pub log: LineLog,
    pub admin: SocketAddr,
    pub internal: SocketAddr,
    pub metrics: SocketAddr,
    pub state: Arc<TempDir>,
}

impl ControlPlane {
    /// A fresh control-plane on its embedded database.
    pub fn start() -> Self {
        Self::start_in(Arc::new(TempDir::new("dp")))
    }

    /// A control-plane whose database lives in `state` (restart with the same one).
    pub fn start_in(state: Arc<TempDir>) -> Self {
        Self::launch(state, &[])
    }

    /// A fresh control-plane with extra settings (e.g. ACME's).
    pub fn start_with(env: &[(String, String)]) -> Self {
        Self::launch(Arc::new(TempDir::new("dp")), env)
    }

    fn launch(state: Arc<TempDir>, env: &[(String, String)]) -> Self {
        let mut child = hop_command(workspace_binary("hopgate-control-plane"))
            .env("HOP_SERVER_STATE_DIR", &state.0)
            .env("HOP_ADMIN_LISTEN", "127.0.0.1:0")
            .env("HOP_INTERNAL_LISTEN", "127.0.0.1:0")
            .env("HOP_METRICS_LISTEN", "127.0.0.1:0")
            .env("HOP_ADMIN_API_KEY", ADMIN_KEY)
            .env("HOP_INTERNAL_TOKEN", INTERNAL_TOKEN)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting hopgate-control-plane");
        let log = LineLog::of_child(&mut child, "control-plane");
        let line = log.wait_for("`listening` line", Duration::from_secs(60), |line| {
            line.contains("\"msg\":\"listening\"")
        });
        let addr = |name| field(&line, name).unwrap().parse().unwrap();
        Self {
            admin: addr("admin"),
            internal: addr("internal"),
            metrics: addr("metrics"),
            child,
            log,
            state,
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let response = reqwest::Client::new()
            .post(format!("http://{}/api/v1/admin{path}", self.admin))
            .bearer_auth(ADMIN_KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    /// Registers `domain`; its client API key.
    pub async fn register(&self, domain: &str) -> String {
        let body = self
            .post(
                "/domains/register",
                json!({"domain": domain, "memo": "test"}),
            )
            .await;
        body["client_api_key"].as_str().unwrap().to_owned()
    }

    pub async fn unregister(&self, domain: &str) {
        self.post("/domains/unregister", json!({ "domain": domain }))
            .await;
    }

    /// Rotates `domain`'s key; the new key.
    pub async fn rotate(&self, domain: &str) -> String {
        let body = self
            .post(&format!("/domains/{domain}/rotate-key"), json!({}))
            .await;
        body["client_api_key"].as_str().unwrap().to_owned()
    }

    /// Sets `domain`'s access policy (`PUT …/access` with `policy`); the API's answer.
    pub async fn set_access(&self, domain: &str, policy: Value) -> Value {
        let response = reqwest::Client::new()
            .put(format!(
                "http://{}/api/v1/admin/domains/{domain}/access",
                self.admin
            ))
            .bearer_auth(ADMIN_KEY)
            .json(&policy)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert!(status.is_success(), "set access: {status} {body}");
        body
    }

    /// The admin API's view of `domain`.
    pub async fn domain(&self, domain: &str) -> Value {
        reqwest::Client::new()
            .get(format!(
                "http://{}/api/v1/admin/domains/{domain}",
                self.admin
            ))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.kill();
    }
}
