//! The agents' side: their DTLS sessions, the hello that admits each one, and the actors
//! that carry requests over them.
//!
//! - `accept`: the DTLS listener's accept loop and the agents' hello;
//! - `session_actor`: one actor per agent session;
//! - `request_actor`: one actor per request carried over a session;
//! - `routing`: the domain table (key hashes), the live sessions, and the other pods that
//!   hold a domain's session, read without a global lock.

pub(crate) mod accept;
pub(crate) mod request_actor;
pub(crate) mod routing;
pub(crate) mod session_actor;
