//! `hopgate-test-support`: helpers the integration tests of several crates share — a
//! binary run with only the `HOP_…` variables the test sets ([`run`], [`hop_command`]), a
//! temporary directory removed on drop, and a private Pebble (a real ACME server, from
//! Debian's `pebble` package) started by `scripts/pebble.sh` and stopped on drop, and
//! ports to name before anything listens on them ([`unused_port`]). For the `hostile_*`
//! tests: a seeded sender of garbage to any TCP or UDP listener ([`garbage`]), a
//! well-behaved client timed while an attack runs ([`Prober`]), and a process's memory and
//! descriptors from `/proc` ([`ProcStats`]). File modes of a state directory
//! ([`assert_private_dir`]). Used as a dev-dependency only.

mod file_modes;
pub mod garbage;
mod pebble;
mod ports;
mod proc_stats;
mod process;
mod temp_dir;
mod victim;

pub use file_modes::{assert_private_dir, loosen_dir, mode_of};
pub use pebble::Pebble;
pub use ports::unused_port;
pub use proc_stats::{ProcStats, is_alive, open_fds, wait_for_fds_at_most};
pub use process::{hop_command, run};
pub use temp_dir::TempDir;
pub use victim::{ProbeReport, Prober, Sample};
