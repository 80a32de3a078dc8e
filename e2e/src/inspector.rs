//! The agent's request inspector as a test reaches it: its address (from the agent's
//! `inspector listening` log line) and its JSON API.

use std::{net::SocketAddr, time::Duration};

use serde_json::Value;

use crate::{Agent, field};

/// The inspector of a running agent.
pub struct Inspector {
    pub addr: SocketAddr,
    client: reqwest::Client,
}

impl Inspector {
    /// The inspector of `agent`, started with `--inspect on --inspect-addr 127.0.0.1:0`
    /// ([`Agent::INSPECT_ON_ANY_PORT`]).
    pub fn of(agent: &Agent, limit: Duration) -> Self {
        let line = agent
            .logs
            .wait_for("`inspector listening` line", limit, |line| {
                line.contains("\"msg\":\"inspector listening\"")
            });
        let addr = field(&line, "inspect")
            .expect("the inspector's address")
            .parse()
            .unwrap();
        Self {
            addr,
            client: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `GET path`: the status and the JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// The exchanges kept, newest first.
    pub async fn list(&self) -> Vec<Value> {
        let (status, list) = self.get("/api/exchanges").await;
        assert_eq!(status, 200, "{list}");
        list.as_array().unwrap().clone()
    }

    /// Waits until an exchange for `path` is kept; the newest such.
    pub async fn wait_for_path(&self, path: &str, limit: Duration) -> Value {
        crate::poll_for(&format!("an exchange for {path}"), limit, || async {
            self.list().await.into_iter().find(|e| e["path"] == path)
        })
        .await
    }

    /// `POST /api/exchanges/{id}/replay` with `edits` as JSON: the status and the body.
    pub async fn replay(&self, id: u64, edits: &Value) -> (u16, Value) {
        let response = self
            .client
            .post(self.url(&format!("/api/exchanges/{id}/replay")))
            .json(edits)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }
}
