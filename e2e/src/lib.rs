//! `hopgate-e2e`: HopGate's three binaries run together as real processes, the way an
//! operator runs them, and the harness that starts them. Every binary is built by the
//! workspace's own test build before it runs
//! ([`hopgate_test_support::workspace_binary`]), so a test never runs a stale one.
//!
//! The tests in `tests/` are those that need two or more of the binaries (a pod and the
//! agent, a pod and the control-plane, two pods); tests of one binary live with its crate,
//! and the data-plane's run its library in-process where the process isn't the point.
//!
//! # Layout
//! - [`data_plane`]: a pod as a process ([`DataPlane`]), or run by the caller's own means
//!   (the data-plane's tests run its library in-process behind the same handle), and
//!   what a visitor asks of it.
//! - [`control_plane`]: the control-plane on its embedded SQLite, and its admin API.
//! - [`agent`]: the real agent in front of a local service.
//! - [`browser`]: a headless chromium driven over WebDriver, for web pages.
//! - [`inspector`]: the agent's request inspector, found from its log, and its JSON API;
//!   [`recording_service`] a local service that remembers what reached it.
//! - [`local_service`]: that local service (echo, bytes, statuses, a slow answer);
//!   [`h2c_service`] one that speaks HTTP/2 without TLS only; [`grpc`] a real gRPC service
//!   and client (Python's grpcio); [`head_service`] a Host-checking dev server;
//!   [`listening_child`] how such a service is run as a child process.
//! - [`fake_agent`]: a stand-in agent built from the shared crates, for scripted sessions.
//! - [`two_pods`]: cross-pod routing set up; [`forwarder`]: a Service in front of pods;
//!   [`ha`]: pods behind a load balancer that watches their readiness, and visitors' load.
//! - [`raw_visitor`]: a hostile visitor's TLS, HTTP/1.1 bytes and HTTP/2 frames.
//! - [`visits`]: a GET every 100 ms around a change under a live tunnel, and the outage.
//! - [`websocket_echo`]: a local WebSocket echo server and a visitor's `wss://` client.
//! - [`pki`]: a throw-away CA for the pods' internal TLS.

// A crate for tests only: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod agent;
pub mod browser;
pub mod control_plane;
pub mod data_plane;
pub mod fake_agent;
pub mod forwarder;
pub mod grpc;
pub mod h2c_service;
pub mod ha;
pub mod head_service;
pub mod inspector;
pub mod listening_child;
pub mod local_service;
pub mod pki;
pub mod raw_visitor;
pub mod recording_service;
pub mod two_pods;
pub mod visits;
pub mod websocket_echo;

pub use agent::Agent;
pub use control_plane::ControlPlane;
pub use data_plane::{DataPlane, Runner, Stop};
pub use fake_agent::{FakeAgent, fake_agent, fake_agent_with, serve};
pub use hopgate_test_support::{LineLog, TempDir, field, poll_for, poll_until};
pub use local_service::{
    finish_bytes_download, pattern, seen_by, serve_local, slow_requests_started,
    start_local_service,
};

/// The API key of every domain a debug pod serves from `HOP_DEV_DOMAINS`.
pub const KEY: &str = "test-key-0123456789abcdef0123456789";
/// The pods' relay token (`HOP_RELAY_TOKEN`), which the control-plane never sees.
pub const RELAY_TOKEN: &str = "relay-token-for-tests-0123456789abcdef";
