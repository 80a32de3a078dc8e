//! The agents' side: their DTLS sessions, the hello that admits each one, and the actors
//! that carry requests over them.
//!
//! - `accept`: the DTLS listener's accept loop and the agents' hello;
//! - `session_actor`: one actor per agent session;
//! - `request_actor`: one actor per request carried over a session, with its phases;
//!   `request_answer` is the handler's side of it (the answer's head, then its body),
//!   `request_retry` when a request whose session died may be tried on another,
//!   `upload` the visitor's body on its way up, `request_stream` the stream it owns (both
//!   halves, checked by the stream's rules), `request_phase` where it is, `request_error`
//!   why a request failed;
//! - `routing`: the domain table (key hashes), the live sessions, and the other pods that
//!   hold a domain's session, read without a global lock; `pool` the sessions of one
//!   domain (one, or a pool of agents) and which of them a request goes to;
//! - `watchdog`: whether the agent of a session that requests wait on is still heard.

pub(crate) mod accept;
pub(crate) mod pool;
pub(crate) mod request_actor;
pub(crate) mod request_answer;
pub(crate) mod request_error;
mod request_phase;
pub(crate) mod request_retry;
mod request_stream;
pub(crate) mod routing;
pub(crate) mod session_actor;
mod upload;
mod watchdog;
