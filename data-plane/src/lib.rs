//! `hopgate-data-plane`: terminates visitors' HTTPS (certificate chosen by SNI), accepts
//! agents' DTLS sessions, and carries each request through the session of its domain, on
//! this pod or on the pod that holds it.
//!
//! [`run`] serves a pod on [`Listeners`] bound beforehand (on port 0 in tests) with a
//! validated [`Config`] until its shutdown future resolves, then drains; `main.rs` only
//! parses the settings, sets up the logs, binds the listeners and wires SIGTERM and
//! SIGINT to the shutdown.
//!
//! # Layout
//!
//! A request travels from the visitor's side to the agent's, and the modules follow it:
//!
//! ```text
//! edge ──► upstream ──► tunnel          (the agent's session here)
//!                  └──► cross_pod::client ──► another pod's cross_pod::server ──► upstream
//! ```
//!
//! - [`config`]: settings (defaults < `--config` TOML file < `HOP_…` variables < flags;
//!   exit code 2 when one is wrong); `host`: host-name normalization.
//! - `edge`: the visitors' side: the HTTPS and port-80 listeners, per-IP admission, SNI
//!   checks, the domains' access policies, and the handler that sends each request to its
//!   upstream.
//! - `http`: what the edge and the relay listener share: request-target and header rules,
//!   the per-domain and per-client caps, error pages.
//! - `upstream`: one way to the agent, whichever pod holds its session: a local session
//!   or other pods, one response builder, one set of failure pages.
//! - `tunnel`: the agents' side: the DTLS accept loop and hello, the session and request
//!   actors, the routing table.
//! - `cross_pod`: relaying to the pod that holds a session (`client`) and the relay
//!   listener other pods relay to (`server`), with their TLS and URLs.
//! - `table`: the control-plane's routing table, session reports, certificates from the
//!   table; `certs`: the SNI certificate store, the debug self-signed certificate and
//!   (`certs::sessions`) TLS session resumption under ticket keys rotated on a timer.
//! - `ops`: metrics, the operations listener (`/metrics`, `/healthz`, `/readyz`), the
//!   graceful drain.
//! - `pod`: start-up, assembling the parts above; `listeners`: the bound sockets;
//!   `state_dir`: `HOP_SERVER_STATE_DIR` made private (`0700`, files `0600`).
//!
//! Nothing imports `edge`; `table` and `ops` sit beside the request path.

#![warn(missing_docs)]

mod certs;
pub mod config;
mod cross_pod;
mod edge;
mod host;
mod http;
mod listeners;
mod ops;
mod pod;
mod state_dir;
mod table;
mod tunnel;
mod upstream;

pub use crate::{
    config::{Config, load},
    listeners::{Addresses, BindError, Listeners},
    pod::{RunError, run},
};
