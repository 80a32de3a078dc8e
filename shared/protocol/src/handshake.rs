//! The control-stream handshake: the agent's [`Hello`] and the gateway's [`HelloAck`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::VersionError;
use crate::silent::SessionRef;
use crate::version::{self, PROTOCOL_VERSION};
use crate::wire_enum::wire_enum;

/// The longest [`Hello::agent_id`] a gateway takes as one (a 128-bit id is 32 hex digits).
pub const MAX_AGENT_ID_LEN: usize = 64;

/// The agent's first frame on its control stream: who it is and which protocol it speaks.
///
/// `Debug` prints the key as `***`; never log `client_api_key` any other way.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The protocol version the agent speaks ([`PROTOCOL_VERSION`] of its build).
    pub protocol_version: u16,
    /// The public domain the agent wants to serve, e.g. `"alice.hopgate.example"`.
    pub domain: String,
    /// The secret API key that proves the agent may serve `domain`.
    pub client_api_key: String,
    /// The agent's software version (free text, for logs), e.g. `"0.1.0"`.
    pub agent_version: String,
    /// The agent joins the domain's pool: it serves the domain alongside the other pooled
    /// agents instead of replacing the live one. Absent (older agents) means `false`:
    /// replace. An older gateway ignores the field (and replaces).
    #[serde(default)]
    pub pool: bool,
    /// Names the agent process's tunnel (random, 128 bits as 32 hex digits; not a secret),
    /// the same on every session it holds. A session whose `agent_id` matches a live
    /// session of the domain on the gateway joins it, never replaces it: one agent keeps
    /// several sessions (on distinct pods, or one while it moves). Absent (older agents):
    /// every session is its own agent. An older gateway ignores the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// Sessions of the same agent that went silent, which this session replaces: the pod
    /// holding one routes it no new request (as if it had said `leaving`). Empty (older
    /// agents, or nothing silent): nothing changes. An older gateway ignores the field.
    #[serde(default, skip_serializing_if = "<[SessionRef]>::is_empty")]
    pub silent: Box<[SessionRef]>,
}

impl Hello {
    /// A hello for this build's [`PROTOCOL_VERSION`].
    pub fn new(
        domain: impl Into<String>,
        client_api_key: impl Into<String>,
        agent_version: impl Into<String>,
    ) -> Self {
        Self {
            protocol_version: PROTOCOL_VERSION,
            domain: domain.into(),
            client_api_key: client_api_key.into(),
            agent_version: agent_version.into(),
            pool: false,
            agent_id: None,
            silent: Box::default(),
        }
    }

    /// The same hello, naming the agent's tunnel (see [`Hello::agent_id`]).
    #[must_use]
    pub fn from_agent(self, agent_id: impl Into<String>) -> Self {
        Self {
            agent_id: Some(agent_id.into()),
            ..self
        }
    }

    /// The agent id when it is well formed: 1 to [`MAX_AGENT_ID_LEN`] ASCII letters and
    /// digits. Anything else is treated as absent (the session is its own agent).
    pub fn valid_agent_id(&self) -> Option<&str> {
        self.agent_id.as_deref().filter(|id| {
            (1..=MAX_AGENT_ID_LEN).contains(&id.len())
                && id.bytes().all(|b| b.is_ascii_alphanumeric())
        })
    }

    /// The same hello, asking to join the domain's pool (`true`) or to replace (`false`).
    #[must_use]
    pub fn joining_pool(self, pool: bool) -> Self {
        Self { pool, ..self }
    }

    /// Checks the hello's protocol version against the versions this build speaks; see
    /// [`check_version`](crate::check_version).
    pub fn check_version(&self) -> Result<u16, VersionError> {
        version::check_version(self.protocol_version)
    }
}

impl fmt::Debug for Hello {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hello")
            .field("protocol_version", &self.protocol_version)
            .field("domain", &self.domain)
            .field("client_api_key", &format_args!("***"))
            .field("agent_version", &self.agent_version)
            .field("pool", &self.pool)
            .field("agent_id", &self.agent_id)
            .field("silent", &self.silent)
            .finish()
    }
}

/// The gateway's answer to a [`Hello`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloAck {
    /// Whether the agent is now serving `domain`. Same as `code == HelloCode::Ok`.
    pub ok: bool,
    /// Human-readable explanation, shown to the agent's user as is, e.g. `"agent protocol
    /// 0 is too old; please upgrade ..."`. Empty or a greeting on success.
    pub message: String,
    /// The domain the agent now serves (echoed from the hello; empty if unknown).
    pub domain: String,
    /// The protocol version the session will use (on success, the agent's own version).
    pub protocol_version: u16,
    /// Machine-readable outcome, so the agent can decide whether to retry.
    pub code: HelloCode,
    /// The pod that answered, by its stable name (`HOP_POD_ID`, default the host name):
    /// an agent that keeps sessions on several pods tells them apart by it. Absent from
    /// older gateways (the agent then keeps one session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// The id the pod gave the session, so that a later hello of the agent can name it
    /// (see [`Hello::silent`]). Absent from older gateways.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<u64>,
}

impl HelloAck {
    /// A successful ack: the agent now serves `domain` speaking `protocol_version`.
    pub fn accepted(domain: impl Into<String>, protocol_version: u16) -> Self {
        Self {
            ok: true,
            message: String::new(),
            domain: domain.into(),
            protocol_version,
            code: HelloCode::Ok,
            pod: None,
            session: None,
        }
    }

    /// The same ack, naming the pod that answered.
    #[must_use]
    pub fn from_pod(self, pod: impl Into<String>) -> Self {
        Self {
            pod: Some(pod.into()),
            ..self
        }
    }

    /// A refusal with `code` and a human-readable `message`. The ack carries this build's
    /// [`PROTOCOL_VERSION`], so an agent refused for its version learns what the gateway
    /// speaks.
    pub fn rejected(
        code: HelloCode,
        message: impl Into<String>,
        domain: impl Into<String>,
    ) -> Self {
        Self {
            ok: false,
            message: message.into(),
            domain: domain.into(),
            protocol_version: PROTOCOL_VERSION,
            code,
            pod: None,
            session: None,
        }
    }
}

wire_enum! {
    /// The machine-readable outcome of a hello. Sent as a snake_case string; a code this
    /// build does not know decodes as [`HelloCode::Unknown`].
    pub enum HelloCode {
        /// Accepted: the agent now serves the domain.
        Ok = "ok",
        /// No such domain is registered. Retrying will not help; check the configuration.
        UnknownDomain = "unknown_domain",
        /// The API key is wrong or revoked for this domain. Do not retry with the same key.
        BadKey = "bad_key",
        /// The agent's protocol version is outside what the gateway speaks; `message` says
        /// which side must upgrade. Retrying will not help.
        UnsupportedVersion = "unsupported_version",
        /// The gateway is draining or overloaded. Retry later with backoff.
        Unavailable = "unavailable",
        /// The domain's pool on this gateway holds as many agents as it may; `message`
        /// gives the cap. Retry later with backoff (a place frees when an agent leaves).
        PoolFull = "pool_full",
        /// The gateway failed internally (e.g. its control plane was unreachable). Retry
        /// with backoff.
        Internal = "internal",
        /// A code this build does not know (sent by a newer gateway). Treat as a refusal
        /// and retry with backoff.
        Unknown = "unknown",
    }
    unknown => Unknown;
}

impl HelloCode {
    /// Whether reconnecting later with the same hello can succeed: `false` for
    /// configuration problems (unknown domain, bad key, unsupported version), where the
    /// agent should stop and tell its user, and for [`HelloCode::Ok`].
    pub const fn is_retryable(self) -> bool {
        match self {
            Self::Ok | Self::UnknownDomain | Self::BadKey | Self::UnsupportedVersion => false,
            Self::Unavailable | Self::PoolFull | Self::Internal | Self::Unknown => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_debug_hides_the_key() {
        let hello = Hello::new("alice.example", "sk_live_VERY_SECRET_123", "0.1.0");
        let debug = format!("{hello:?}");
        assert!(
            !debug.contains("VERY_SECRET"),
            "key leaked into Debug: {debug}"
        );
        assert!(debug.contains("client_api_key: ***"), "{debug}");
        assert!(debug.contains("alice.example"), "{debug}");
        let pretty = format!("{hello:#?}");
        assert!(
            !pretty.contains("VERY_SECRET"),
            "key leaked into {{:#?}}: {pretty}"
        );
        let frame = format!("{:?}", crate::Frame::from(hello));
        assert!(
            !frame.contains("VERY_SECRET"),
            "key leaked via Frame: {frame}"
        );
    }

    /// A hello as agents from before pools encode it.
    #[derive(Serialize)]
    struct HelloWithoutPool {
        protocol_version: u16,
        domain: String,
        client_api_key: String,
        agent_version: String,
    }

    #[test]
    fn a_hello_without_pool_means_replace_and_a_pooled_one_round_trips() {
        let old = HelloWithoutPool {
            protocol_version: PROTOCOL_VERSION,
            domain: "alice.example".into(),
            client_api_key: "k".into(),
            agent_version: "0.1.0".into(),
        };
        let bytes = rmp_serde::to_vec_named(&old).unwrap();
        let decoded: Hello = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(decoded, Hello::new("alice.example", "k", "0.1.0"));
        assert!(!decoded.pool);

        let pooled = Hello::new("alice.example", "k", "0.2.0").joining_pool(true);
        let bytes = rmp_serde::to_vec_named(&pooled).unwrap();
        assert_eq!(rmp_serde::from_slice::<Hello>(&bytes).unwrap(), pooled);
        // A gateway from before pools reads the fields it knows and ignores `pool`.
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct OldGatewayHello {
            protocol_version: u16,
            domain: String,
            client_api_key: String,
            agent_version: String,
        }
        let read: OldGatewayHello = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(read.domain, "alice.example");
    }

    #[test]
    fn agent_ids_and_pod_names_are_optional_both_ways() {
        // An older agent's hello has no agent id; a newer one's round-trips.
        let old = HelloWithoutPool {
            protocol_version: PROTOCOL_VERSION,
            domain: "alice.example".into(),
            client_api_key: "k".into(),
            agent_version: "0.1.0".into(),
        };
        let decoded: Hello =
            rmp_serde::from_slice(&rmp_serde::to_vec_named(&old).unwrap()).unwrap();
        assert_eq!(decoded.agent_id, None);
        assert_eq!(decoded.valid_agent_id(), None);
        let id = "0123456789abcdef0123456789abcdef";
        let new = Hello::new("alice.example", "k", "0.3.0").from_agent(id);
        let bytes = rmp_serde::to_vec_named(&new).unwrap();
        let decoded: Hello = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(decoded.valid_agent_id(), Some(id));
        // A gateway from before agent ids reads the rest.
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct OldGatewayHello {
            domain: String,
            pool: bool,
        }
        let read: OldGatewayHello = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(read.domain, "alice.example");
        // Malformed ids count as none.
        for bad in ["", "has space", "é", &"a".repeat(MAX_AGENT_ID_LEN + 1)] {
            let hello = Hello::new("a", "k", "0").from_agent(bad);
            assert_eq!(hello.valid_agent_id(), None, "{bad:?}");
        }

        // An older gateway's ack names no pod; a newer one's does, and an older agent
        // reads it all the same.
        #[derive(Serialize)]
        struct AckWithoutPod {
            ok: bool,
            message: String,
            domain: String,
            protocol_version: u16,
            code: HelloCode,
        }
        let old_ack = AckWithoutPod {
            ok: true,
            message: String::new(),
            domain: "alice.example".into(),
            protocol_version: PROTOCOL_VERSION,
            code: HelloCode::Ok,
        };
        let bytes = rmp_serde::to_vec_named(&old_ack).unwrap();
        let decoded: HelloAck = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(
            decoded,
            HelloAck::accepted("alice.example", PROTOCOL_VERSION)
        );
        let named = HelloAck::accepted("alice.example", PROTOCOL_VERSION).from_pod("pod-a");
        let bytes = rmp_serde::to_vec_named(&named).unwrap();
        assert_eq!(rmp_serde::from_slice::<HelloAck>(&bytes).unwrap(), named);
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct OldAgentAck {
            ok: bool,
            code: HelloCode,
        }
        let read: OldAgentAck = rmp_serde::from_slice(&bytes).unwrap();
        assert!(read.ok);
    }

    #[test]
    fn a_full_pool_is_retried_and_old_agents_read_it_as_unknown() {
        assert!(HelloCode::PoolFull.is_retryable());
        let ack = HelloAck::rejected(HelloCode::PoolFull, "pool full", "alice.example");
        let bytes = rmp_serde::to_vec_named(&ack).unwrap();
        assert_eq!(rmp_serde::from_slice::<HelloAck>(&bytes).unwrap(), ack);
        assert_eq!(HelloCode::from_wire("pool_full"), Some(HelloCode::PoolFull));
    }

    #[test]
    fn acks_are_consistent() {
        let ok = HelloAck::accepted("alice.example", 1);
        assert!(ok.ok);
        assert_eq!(ok.code, HelloCode::Ok);
        let no = HelloAck::rejected(HelloCode::BadKey, "bad key", "alice.example");
        assert!(!no.ok);
        assert_eq!(no.protocol_version, PROTOCOL_VERSION);
        assert!(!no.code.is_retryable());
        assert!(HelloCode::Unavailable.is_retryable());
    }
}
