//! A seeded userspace UDP relay that impairs a link on loopback, for transport tests and
//! benchmarks.
//!
//! Clients send to [`Relay::local_addr`]; the relay forwards each datagram to the
//! configured upstream (the server) and forwards the server's answers back. Every
//! distinct client address gets its own upstream socket, so the server sees one peer per
//! client. Each direction is impaired independently ([`Impairment`]): datagrams can be
//! dropped, duplicated, held back so later ones overtake them, and delayed by a fixed
//! amount. All random decisions come from a seeded [`rand::rngs::StdRng`], so a run with
//! the same seed and the same traffic makes the same decisions.
//!
//! ```no_run
//! # async fn demo(server: std::net::SocketAddr) -> std::io::Result<()> {
//! use std::time::Duration;
//! use hopgate_lossy_relay::{Impairment, RelayConfig};
//!
//! let link = Impairment::default().with_drop(0.01).with_delay(Duration::from_millis(10));
//! let relay = hopgate_lossy_relay::start(RelayConfig::symmetric(server, link, 42)).await?;
//! // ... point the client at relay.local_addr() ...
//! println!("{:?}", relay.stats());
//! # Ok(()) }
//! ```
//!
//! Layout:
//! - `config.rs`: [`Impairment`], [`RelayConfig`], [`RelayOptions`] and their validation;
//! - `control.rs`: commands to a running relay: [`Relay::rebind`] (new source ports, as a
//!   NAT rebinding), [`Relay::block`] (drop everything both ways) and [`Relay::set_mtu`]
//!   (drop what is larger, both ways);
//! - `relay.rs`: [`start`], [`Relay`] and the tasks: one for the client → server
//!   direction, which owns the client mappings and forgets idle ones, and one per mapping
//!   for the server → client direction;
//! - `pipe.rs`: the impairment of one direction (random decisions, immediate sends);
//! - `queue.rs`: the timer queue of held-back datagrams (a binary heap keyed by release
//!   time and sequence number, with pooled buffers);
//! - `stats.rs`: the shared counters and their snapshots, [`Stats`] and [`DirectionStats`].
//!
//! Datagrams that need no holding back are forwarded at once without touching the timer
//! queue; nothing is allocated or spawned per datagram.

mod config;
mod control;
mod pipe;
mod queue;
mod relay;
mod stats;

pub use config::{
    DEFAULT_IDLE_TIMEOUT, DEFAULT_REORDER_DELAY, Impairment, RelayConfig, RelayOptions,
};
pub use relay::{Relay, start, start_with};
pub use stats::{DirectionStats, Stats};
