//! Control frames: [`Reset`] (with its [`ResetCode`]), [`Ping`]/[`Pong`] and [`GoAway`]
//! (with its [`GoAwayCode`]). The gateway sends a go-away to say it restarts or that a
//! newer agent took over; the agent sends one (`leaving`) to retire a session it no
//! longer wants.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::wire_enum::wire_enum;

/// Abandons the exchange on this stream. Either side may send it, at any point; the
/// receiver stops reading and writing the stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reset {
    /// Why, for the receiver's logic (e.g. which HTTP status to show the visitor).
    pub code: ResetCode,
    /// Why, for humans (logs). Must not contain secrets.
    pub message: String,
}

impl Reset {
    /// A reset with `code` and a human-readable `message`.
    pub fn new(code: ResetCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

wire_enum! {
    /// Why a stream was reset, and whom it blames. Sent as a snake_case string; a code
    /// this build does not know decodes as [`ResetCode::Unknown`].
    pub enum ResetCode {
        /// The sender gave up on the exchange: the visitor went away (sent by the gateway)
        /// or the agent is shutting the stream down. Blames no one.
        Cancelled = "cancelled",
        /// The agent could not connect to its local service. Blames the agent's upstream
        /// (the service is down or the agent points at the wrong port).
        UpstreamUnreachable = "upstream_unreachable",
        /// The agent's local service did not answer in time. Blames the upstream.
        UpstreamTimeout = "upstream_timeout",
        /// The agent's local service answered with something that is not valid HTTP.
        /// Blames the upstream.
        UpstreamProtocolError = "upstream_protocol_error",
        /// The receiver broke this wire protocol on the stream (wrong frame order,
        /// malformed frame). Blames the receiver of the reset.
        ProtocolError = "protocol_error",
        /// A head or body the receiver sent exceeded the sender's limits. Blames the
        /// receiver's data (the visitor's request, or the upstream's response).
        TooLarge = "too_large",
        /// The sender refused the stream before doing any work on it (draining, at
        /// capacity); the request is safe to retry. Blames no one.
        Refused = "refused",
        /// The sender failed internally. Blames the sender.
        Internal = "internal",
        /// A code this build does not know (sent by a newer peer). Blames no one in
        /// particular; treat like [`ResetCode::Internal`].
        Unknown = "unknown",
    }
    unknown => Unknown;
}

impl ResetCode {
    /// The HTTP status a gateway would typically show a visitor when the agent resets a
    /// request with this code. A suggestion; the data-plane owns the policy.
    pub const fn suggested_http_status(self) -> u16 {
        match self {
            Self::UpstreamTimeout => 504,
            Self::TooLarge => 413,
            Self::Refused => 503,
            Self::Cancelled
            | Self::UpstreamUnreachable
            | Self::UpstreamProtocolError
            | Self::ProtocolError
            | Self::Internal
            | Self::Unknown => 502,
        }
    }
}

/// A liveness probe; the receiver answers with a [`Pong`] carrying the same nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ping {
    /// Chosen by the sender, echoed in the pong (e.g. a counter or a timestamp).
    pub nonce: u64,
}

/// The answer to a [`Ping`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Pong {
    /// The nonce of the ping being answered.
    pub nonce: u64,
}

impl Ping {
    /// The pong that answers this ping.
    pub const fn pong(self) -> Pong {
        Pong { nonce: self.nonce }
    }
}

/// The sender will stop taking new streams (e.g. before a restart). Streams already open
/// may finish within `drain_ms`; after that the sender closes the connection. The agent
/// should connect again (to a fresh gateway) right away.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoAway {
    /// Why, for humans (logs), e.g. `"gateway restarting for upgrade"`.
    pub reason: String,
    /// How long open streams have to finish, in milliseconds.
    pub drain_ms: u64,
    /// Why, for the agent's logic: reconnect, or stop because another agent took over.
    /// Absent (older peers) means [`GoAwayCode::Shutdown`].
    #[serde(default)]
    pub code: GoAwayCode,
}

wire_enum! {
    /// What a [`GoAway`] asks of the agent. Sent as a snake_case string; a code this build
    /// does not know decodes as [`GoAwayCode::Unknown`].
    #[derive(Default)]
    pub enum GoAwayCode {
        /// The gateway is shutting down or draining: connect again at once (a load
        /// balancer will pick another gateway).
        #[default]
        Shutdown = "shutdown",
        /// A newer agent session for the same domain took over. Reconnecting would take
        /// the domain back from it, and the two agents would take turns: stop instead.
        Replaced = "replaced",
        /// Sent by the agent: this session is leaving (the agent holds another where it
        /// wants to be). The gateway routes no new request to it, lets the requests in
        /// flight finish, then closes it. An older gateway ignores it.
        Leaving = "leaving",
        /// A code this build does not know; treat like [`GoAwayCode::Shutdown`].
        Unknown = "unknown",
    }
    unknown => Unknown;
}

impl GoAway {
    /// A go-away with a human-readable `reason` and a drain period.
    pub fn new(reason: impl Into<String>, drain: Duration) -> Self {
        Self {
            reason: reason.into(),
            drain_ms: u64::try_from(drain.as_millis()).unwrap_or(u64::MAX),
            code: GoAwayCode::Shutdown,
        }
    }

    /// The go-away a session gets when a newer session for its domain takes over.
    pub fn replaced(reason: impl Into<String>) -> Self {
        Self {
            code: GoAwayCode::Replaced,
            ..Self::new(reason, Duration::ZERO)
        }
    }

    /// The go-away an agent sends on a session it is leaving (see
    /// [`GoAwayCode::Leaving`]).
    pub fn leaving(reason: impl Into<String>) -> Self {
        Self {
            code: GoAwayCode::Leaving,
            ..Self::new(reason, Duration::ZERO)
        }
    }

    /// Whether the agent says this session is leaving.
    pub const fn is_leaving(&self) -> bool {
        matches!(self.code, GoAwayCode::Leaving)
    }

    /// Whether the agent should stop serving this domain rather than reconnect.
    pub const fn is_replaced(&self) -> bool {
        matches!(self.code, GoAwayCode::Replaced)
    }

    /// The drain period as a `Duration`.
    pub const fn drain(&self) -> Duration {
        Duration::from_millis(self.drain_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A go-away as peers from before [`GoAwayCode`] encode it.
    #[derive(Serialize)]
    struct GoAwayWithoutCode {
        reason: String,
        drain_ms: u64,
    }

    #[test]
    fn a_go_away_without_a_code_means_shutdown() {
        let old = GoAwayWithoutCode {
            reason: "restarting".into(),
            drain_ms: 5,
        };
        let bytes = rmp_serde::to_vec_named(&old).unwrap();
        let decoded: GoAway = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(decoded, GoAway::new("restarting", Duration::from_millis(5)));
        assert!(!decoded.is_replaced());
    }

    #[test]
    fn leaving_round_trips_and_older_peers_read_it_as_unknown() {
        let away = GoAway::leaving("another session serves");
        let bytes = rmp_serde::to_vec_named(&away).unwrap();
        let decoded: GoAway = rmp_serde::from_slice(&bytes).unwrap();
        assert!(decoded.is_leaving());
        assert!(!decoded.is_replaced());
        assert_eq!(GoAwayCode::from_wire("leaving"), Some(GoAwayCode::Leaving));
        assert_eq!(GoAwayCode::from_wire("moved_on"), None);
    }

    #[test]
    fn replaced_is_its_own_code() {
        let away = GoAway::replaced("newer session");
        let bytes = rmp_serde::to_vec_named(&away).unwrap();
        let decoded: GoAway = rmp_serde::from_slice(&bytes).unwrap();
        assert!(decoded.is_replaced());
        assert_eq!(decoded.drain(), Duration::ZERO);
    }
}
