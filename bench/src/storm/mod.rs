//! The pieces of `hopgate-storm-bench` (see `storm_bench.rs`).

pub(crate) mod probe;
pub(crate) mod profile;
pub(crate) mod threads;
pub(crate) mod udp;
