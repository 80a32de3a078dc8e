//! `hopgate-test-support`: helpers the integration tests of several crates share — a
//! binary run with only the `HOP_…` variables the test sets ([`run`], [`hop_command`]), a
//! temporary directory removed on drop, and a private Pebble (a real ACME server, from
//! Debian's `pebble` package) started by `scripts/pebble.sh` and stopped on drop, and
//! ports to name before anything listens on them ([`unused_port`]). Used as a
//! dev-dependency only.

mod pebble;
mod ports;
mod process;
mod temp_dir;

pub use pebble::Pebble;
pub use ports::unused_port;
pub use process::{hop_command, run};
pub use temp_dir::TempDir;
