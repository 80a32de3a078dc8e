//! An agent's sessions that went silent, named in the hello of the session that replaces
//! them: the pod holding one stops routing requests to it at once, instead of waiting
//! until it declares the session dead.
//!
//! A session is named by the pod that answered its hello ([`HelloAck::pod`]) and the id
//! that pod gave it ([`HelloAck::session`]); ids are only unique per pod. A pod acts on a
//! name only for its own sessions of the same domain and the same
//! [`agent_id`](Hello::agent_id): a holder of the domain's key can already replace any
//! session of the domain, so naming one grants nothing new.

use serde::{Deserialize, Serialize};

use crate::handshake::{Hello, HelloAck};

/// The most silent sessions a hello names that a gateway looks at (an agent holds at most
/// four sessions per tunnel); the rest are ignored.
pub const MAX_SILENT_SESSIONS: usize = 4;

/// One session of the agent, as the gateway named it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRef {
    /// The pod that answered its hello.
    pub pod: String,
    /// The id that pod gave it.
    pub session: u64,
}

impl Hello {
    /// The same hello, naming the agent's sessions that went silent (see
    /// [`Hello::silent`]).
    #[must_use]
    pub fn replacing_silent(self, silent: Vec<SessionRef>) -> Self {
        Self {
            silent: silent.into(),
            ..self
        }
    }

    /// The silent sessions named that are on `pod` (at most [`MAX_SILENT_SESSIONS`] are
    /// looked at).
    pub fn silent_on<'a>(&'a self, pod: &'a str) -> impl Iterator<Item = u64> + 'a {
        self.silent
            .iter()
            .take(MAX_SILENT_SESSIONS)
            .filter(move |named| named.pod == pod)
            .map(|named| named.session)
    }
}

impl HelloAck {
    /// The same ack, giving the id this pod gave the session.
    #[must_use]
    pub fn with_session(self, session: u64) -> Self {
        Self {
            session: Some(session),
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(pod: &str, session: u64) -> SessionRef {
        SessionRef {
            pod: pod.into(),
            session,
        }
    }

    #[test]
    fn a_pod_sees_only_its_own_sessions_and_at_most_four_names() {
        let mut silent: Vec<_> = (0..10).map(|i| named("pod-a", i)).collect();
        silent.insert(1, named("pod-b", 99));
        let hello = Hello::new("a.test", "key", "1").replacing_silent(silent);
        assert_eq!(hello.silent_on("pod-a").collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(hello.silent_on("pod-b").collect::<Vec<_>>(), [99]);
        assert_eq!(hello.silent_on("pod-c").count(), 0);
    }

    #[test]
    fn silent_names_and_session_ids_are_optional_both_ways() {
        let plain = Hello::new("a.test", "key", "1");
        let bytes = rmp_serde::to_vec_named(&plain).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains("silent"));
        let named = plain.replacing_silent(vec![named("pod-a", 7)]);
        let bytes = rmp_serde::to_vec_named(&named).unwrap();
        assert_eq!(rmp_serde::from_slice::<Hello>(&bytes).unwrap(), named);

        let ack = HelloAck::accepted("a.test", 1).from_pod("pod-a");
        let bytes = rmp_serde::to_vec_named(&ack).unwrap();
        assert_eq!(
            rmp_serde::from_slice::<HelloAck>(&bytes).unwrap().session,
            None
        );
        let ack = ack.with_session(7);
        let bytes = rmp_serde::to_vec_named(&ack).unwrap();
        assert_eq!(
            rmp_serde::from_slice::<HelloAck>(&bytes).unwrap().session,
            Some(7)
        );
    }
}
