//! `hopgate-test-support`: helpers the integration tests of several crates share — a
//! temporary directory removed on drop, and a private Pebble (a real ACME server, from
//! Debian's `pebble` package) started by `scripts/pebble.sh` and stopped on drop. Used as
//! a dev-dependency only.

mod pebble;
mod temp_dir;

pub use pebble::Pebble;
pub use temp_dir::TempDir;
