//! `hopgate-test-support`: helpers the integration tests of several crates share. Used as
//! a dev-dependency only.
//!
//! - Processes: a binary run with only the `HOP_…` variables the test sets ([`run`],
//!   [`hop_command`]); another workspace crate's binary, built first
//!   ([`workspace_binary`]); a pinned tool installed by its script ([`tool_from_script`]);
//!   a child's output kept line by line and waited on
//!   ([`LineLog`]); a JSON log line's fields ([`field`]).
//! - Waiting on conditions instead of sleeping: [`poll_until`], [`poll_for`],
//!   [`wait_until`], [`exit_within`].
//! - Ports: one where nothing listens until the test opens it ([`ClosedPort`]), one for a
//!   process that binds a fixed port itself ([`unused_port`]); a TCP relay that can stop
//!   reading for its client ([`PausableRelay`]).
//! - A temporary directory removed on drop ([`TempDir`]); file modes of a state directory
//!   ([`assert_private_dir`]) and a file links planted in it point to ([`LinkTarget`]).
//! - A private Pebble (a real ACME server, from Debian's `pebble` package) started by
//!   `scripts/pebble.sh` and stopped on drop ([`Pebble`]).
//! - For the `hostile_*` tests: a seeded sender of garbage to any TCP or UDP listener
//!   ([`garbage`]), a well-behaved client timed while an attack runs ([`Prober`]), and a
//!   process's memory and descriptors from `/proc` ([`ProcStats`], [`peak_rss_kib`]).

// A crate for tests only: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod file_modes;
pub mod garbage;
mod line_log;
mod pebble;
mod poll;
mod ports;
mod proc_stats;
mod process;
mod tcp_relay;
mod temp_dir;
mod victim;
mod workspace;

pub use file_modes::{LinkTarget, assert_private_dir, loosen_dir, mode_of};
pub use line_log::{LineLog, field};
pub use pebble::Pebble;
pub use poll::{exit_within, poll_for, poll_until, wait_until};
pub use ports::{ClosedPort, unused_port};
pub use proc_stats::{ProcStats, is_alive, open_fds, peak_rss_kib, wait_for_fds_at_most};
pub use process::{hop_command, run};
pub use tcp_relay::PausableRelay;
pub use temp_dir::TempDir;
pub use victim::{ProbeReport, Prober, Sample};
pub use workspace::{tool_from_script, workspace_binary};
