//! The agent's test bench: the test plays the gateway in-process (a real
//! `hopgate_transport::Listener` with a self-signed certificate, and the tunnel framing),
//! runs a small local HTTP service in-process (hyper), and spawns the real agent binary
//! between them.

#![allow(dead_code, unreachable_pub, unused_imports)]

mod agent;
mod data;
mod gateway;
mod local;
mod relay;

use std::time::Duration;

pub use agent::*;
pub use data::*;
pub use gateway::*;
pub use local::*;
pub use relay::*;

/// Any single step of a test may take this long before the test fails.
pub const STEP: Duration = Duration::from_secs(20);
/// The domain the tests serve.
pub const DOMAIN: &str = "app.example.com";
/// The key the tests use; it must never appear in the agent's output.
pub const KEY: &str = "hg_test_SUPER_SECRET_KEY_0123456789";

pub async fn within<T>(what: &str, limit: Duration, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, fut).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {limit:?}: {what}"),
    }
}
