//! The pieces of `hopgate-abuse-bench` (see `abuse_bench.rs`).

pub(crate) mod attacks;
pub(crate) mod pod;
pub(crate) mod service;
pub(crate) mod tls;
pub(crate) mod victim;
