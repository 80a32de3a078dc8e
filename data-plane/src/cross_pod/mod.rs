//! Cross-pod routing: a visitor's request for a domain whose agent session lives on another
//! pod is relayed there over HTTP/1.1 (HTTPS with the relay's TLS settings).
//!
//! - `client`: the relaying side, one of the two kinds of [`upstream`](crate::upstream);
//! - `server`: the relay listener, where other pods' requests arrive; it is an entry point
//!   like the edge and hands them to the upstream (a session here only: one hop);
//! - `tls`: HTTPS between pods; `url`: the relay's URL, built from parts and checked to
//!   name the chosen pod.

pub(crate) mod client;
pub(crate) mod server;
pub(crate) mod tls;
pub(crate) mod url;

/// Carries `HOP_RELAY_TOKEN` from the relaying pod.
pub(crate) const TOKEN_HEADER: &str = "x-hopgate-relay-token";
/// The visitor's HTTP version at the first pod (`1.0`, `1.1`, `2`).
pub(crate) const VERSION_HEADER: &str = "x-hopgate-visitor-version";
/// The request id the first pod gave the request (one id in both pods' logs).
pub(crate) const REQUEST_ID_HEADER: &str = "x-hopgate-request-id";
