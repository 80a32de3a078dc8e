//! `hopgate-test-support`: helpers the integration tests of several crates share — a
//! binary run with only the `HOP_…` variables the test sets ([`run`], [`hop_command`]), a
//! temporary directory removed on drop, and a private Pebble (a real ACME server, from
//! Debian's `pebble` package) started by `scripts/pebble.sh` and stopped on drop. Used as
//! a dev-dependency only.

mod pebble;
mod process;
mod temp_dir;

pub use pebble::Pebble;
pub use process::{hop_command, run};
pub use temp_dir::TempDir;
