//! What both HTTP entry points — the visitors' listeners ([`edge`](crate::edge)) and the
//! relay listener ([`cross_pod::server`](crate::cross_pod::server)) — apply to a request
//! before it goes upstream, and the pages they answer with when it can't.
//!
//! - `target`: only origin-form request targets pass;
//! - `request`: what a request says of itself (a WebSocket upgrade, a body) and its head
//!   for the agent;
//! - `headers`: hop-by-hop headers stop here, forwarding headers are added;
//! - `limits`: the caps on requests in flight per domain and per client;
//! - `refusals`, `pages`: the answers for requests that go no further, and how error pages
//!   look;
//! - `guarded_body`: a response body holding what must live until the answer ends;
//! - `trailers`: which trailer fields pass, both ways.

pub(crate) mod guarded_body;
pub(crate) mod headers;
pub(crate) mod limits;
pub(crate) mod pages;
pub(crate) mod refusals;
pub(crate) mod request;
pub(crate) mod target;
pub(crate) mod trailers;
