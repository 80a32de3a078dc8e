//! [`Config::validate`]: what parsing can't check. Each check names the variable of the bad
//! setting and why it is wrong; `hopgate-settings` then says where the value came from
//! (the variable, a flag, or `file: key`). The settings of trust between pods are checked
//! in `trust`.

use std::time::Duration;

use hopgate_settings::Secret;

use super::{Config, MAX_HANDSHAKES};

/// The most sessions of one IP a record from a new port may be tried against.
const MAX_MIGRATION_CANDIDATES: u32 = 64;
/// The most such trials one IP may cause per second.
const MAX_MIGRATION_TRIALS: u32 = 10_000;

/// The largest pool `HOP_SERVER_MAX_POOL_SESSIONS` may allow.
const MAX_POOL_SESSIONS: u32 = 1_024;
/// The longest the HTTPS listener's session ticket keys may live: OpenSSL's session
/// lifetime, past which a ticket no longer resumes whatever its keys.
const MAX_TICKET_KEY_ROTATION: Duration = Duration::from_secs(2 * 3600);
/// The longest an unauthenticated handshake or hello may be waited for.
const MAX_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);
/// The most sockets (and threads) the DTLS port may be served by.
const MAX_DTLS_SOCKETS: u32 = 256;
/// HTTPS worker threads at most.
const MAX_HTTPS_WORKERS: u32 = 256;
/// The most new DTLS handshakes a second a pod may be told to start.
const MAX_HANDSHAKES_PER_S: u32 = 100_000;
/// The longest requests may wait on an agent that is not heard.
const MAX_AGENT_UNHEARD_AFTER: Duration = Duration::from_secs(60);
/// The longest a pod may stay unready waiting for the other pods' placements: past it,
/// a pod whose control-plane is away could long have served from its snapshot.
const MAX_PLACEMENT_WAIT: Duration = Duration::from_secs(60);

/// A setting that is wrong: its variable (naming the setting) and why.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) var: &'static str,
    pub(crate) reason: String,
}

pub(super) fn bad(var: &'static str, reason: impl Into<String>) -> Problem {
    Problem {
        var,
        reason: reason.into(),
    }
}

impl Config {
    /// Checks what parsing can't: names the bad setting and why.
    pub(crate) fn validate(&self) -> Result<(), Problem> {
        self.validate_routing_source()?;
        self.validate_internal_trust()?;
        self.validate_request_limits()?;
        self.validate_connection_limits()?;
        self.validate_agent_limits()
    }

    /// The gateway's domain, and where the routing table comes from: the control-plane
    /// (with its token, the relay between pods and the wait for placements) or the fixed
    /// development table.
    fn validate_routing_source(&self) -> Result<(), Problem> {
        if self.domain.is_empty() {
            return Err(bad(
                "HOP_SERVER_DOMAIN",
                "required (the gateway's main domain)",
            ));
        }
        crate::host::normalize(&self.domain)
            .map_err(|e| bad("HOP_SERVER_DOMAIN", format!("'{}' {e}", self.domain)))?;
        if !self.debug && self.control_plane_url.is_none() {
            return Err(bad(
                "HOP_CONTROL_PLANE_URL",
                "required unless HOP_SERVER_DEBUG=true \
                 (production certificates and domains come from the control-plane)",
            ));
        }
        if !self.debug && !self.dev_domains.is_empty() {
            return Err(bad("HOP_DEV_DOMAINS", "only with HOP_SERVER_DEBUG=true"));
        }
        self.validate_control_plane()?;
        if let Some(id) = &self.pod_id
            && !hopgate_table::valid_pod_id(id)
        {
            return Err(bad(
                "HOP_POD_ID",
                format!("'{id}' must be 1-128 characters of A-Z a-z 0-9 . _ -"),
            ));
        }
        if self.relay_listen()?.is_some() && self.control_plane_url.is_none() {
            return Err(bad(
                "HOP_SERVER_RELAY_LISTEN",
                "needs HOP_CONTROL_PLANE_URL (which says where sessions are); \
                 set it to 'off' without a control-plane",
            ));
        }
        if self.placement_wait.is_zero() || self.placement_wait > MAX_PLACEMENT_WAIT {
            return Err(bad(
                "HOP_SERVER_PLACEMENT_WAIT",
                "must be positive and at most 60s (the pod is not ready while it waits)",
            ));
        }
        Ok(())
    }

    /// The control-plane's URL and token, which exclude the development table.
    fn validate_control_plane(&self) -> Result<(), Problem> {
        match (&self.control_plane_url, self.dev_domains.is_empty()) {
            (Some(_), false) => Err(bad(
                "HOP_DEV_DOMAINS",
                "not used with HOP_CONTROL_PLANE_URL \
                 (the control-plane's table is the routing table); set one",
            )),
            (Some(url), true) if !(url.starts_with("http://") || url.starts_with("https://")) => {
                Err(bad(
                    "HOP_CONTROL_PLANE_URL",
                    format!("'{url}' is not an http:// or https:// URL"),
                ))
            }
            (Some(_), true) if self.internal_token.as_ref().is_none_or(Secret::is_empty) => Err(
                bad("HOP_INTERNAL_TOKEN", "required with HOP_CONTROL_PLANE_URL"),
            ),
            _ => Ok(()),
        }
    }

    /// What one request may take or hold: each timeout positive, each cap at least 1.
    fn validate_request_limits(&self) -> Result<(), Problem> {
        for (var, value) in [
            ("HOP_SERVER_HEADER_TIMEOUT", self.header_timeout),
            ("HOP_SERVER_RESPONSE_TIMEOUT", self.response_timeout),
            ("HOP_SERVER_STREAM_WAIT", self.stream_wait),
            ("HOP_SERVER_BODY_TIMEOUT", self.body_timeout),
        ] {
            if value.is_zero() {
                return Err(bad(var, "must be positive"));
            }
        }
        // An idle agent may be unheard for its keepalive interval with nothing wrong.
        let keepalive = hopgate_transport::TransportConfig::default().keepalive_interval;
        if self.agent_unheard_after <= keepalive
            || self.agent_unheard_after > MAX_AGENT_UNHEARD_AFTER
        {
            return Err(bad(
                "HOP_SERVER_AGENT_UNHEARD_AFTER",
                format!(
                    "must be longer than the agents' keepalive interval ({}s) and at most 60s",
                    keepalive.as_secs()
                ),
            ));
        }
        for (var, value) in [
            (
                "HOP_SERVER_MAX_REQUESTS_PER_DOMAIN",
                self.max_requests_per_domain,
            ),
            (
                "HOP_SERVER_MAX_REQUESTS_PER_CLIENT",
                self.max_requests_per_client,
            ),
        ] {
            if value == 0 {
                return Err(bad(var, "must be at least 1"));
            }
        }
        Ok(())
    }

    /// The listeners' limits: each at least 1, and no handshake cap above the connection
    /// cap it lives under.
    fn validate_connection_limits(&self) -> Result<(), Problem> {
        if self.https_workers > MAX_HTTPS_WORKERS {
            return Err(bad(
                "HOP_SERVER_HTTPS_WORKERS",
                format!("must be 0..={MAX_HTTPS_WORKERS} (0: one per core)"),
            ));
        }
        if self.tls_handshake_timeout.is_zero() {
            return Err(bad("HOP_SERVER_TLS_HANDSHAKE_TIMEOUT", "must be positive"));
        }
        if self.tls_ticket_key_rotation > MAX_TICKET_KEY_ROTATION {
            return Err(bad(
                "HOP_SERVER_TLS_TICKET_KEY_ROTATION",
                "must be at most 2h (OpenSSL ends a session after 2 hours anyway)",
            ));
        }
        for (var, value) in [
            ("HOP_SERVER_MAX_CONNECTIONS", self.max_connections),
            (
                "HOP_SERVER_MAX_CONNECTIONS_PER_IP",
                self.max_connections_per_ip,
            ),
            (
                "HOP_SERVER_MAX_HANDSHAKES_PER_IP",
                self.max_handshakes_per_ip,
            ),
            (
                "HOP_SERVER_H2_MAX_CONCURRENT_STREAMS",
                self.h2_max_concurrent_streams,
            ),
            (
                "HOP_SERVER_H2_MAX_PENDING_RESETS",
                self.h2_max_pending_resets,
            ),
            ("HOP_SERVER_H2_MAX_ERROR_RESETS", self.h2_max_error_resets),
        ] {
            if value == 0 {
                return Err(bad(var, "must be at least 1"));
            }
        }
        if self.max_handshakes_per_ip > self.max_connections_per_ip {
            return Err(bad(
                "HOP_SERVER_MAX_HANDSHAKES_PER_IP",
                format!(
                    "{} is above HOP_SERVER_MAX_CONNECTIONS_PER_IP ({}), which it counts within",
                    self.max_handshakes_per_ip, self.max_connections_per_ip
                ),
            ));
        }
        if self.h2_max_header_list_size < 4096 {
            return Err(bad(
                "HOP_SERVER_H2_MAX_HEADER_LIST_SIZE",
                "must be at least 4096 bytes (browsers' ordinary headers)",
            ));
        }
        Ok(())
    }

    /// The limits on what an agent can make the pod hold before it proves its domain.
    fn validate_agent_limits(&self) -> Result<(), Problem> {
        if !(1..=MAX_HANDSHAKES).contains(&self.dtls_handshakes_per_ip) {
            return Err(bad(
                "HOP_SERVER_DTLS_HANDSHAKES_PER_IP",
                format!("must be 1..={MAX_HANDSHAKES} (the listener's limit in all)"),
            ));
        }
        if self.dtls_sockets > MAX_DTLS_SOCKETS {
            return Err(bad(
                "HOP_SERVER_DTLS_SOCKETS",
                format!("must be 0..={MAX_DTLS_SOCKETS} (0: one per core)"),
            ));
        }
        if !(1..=MAX_HANDSHAKES_PER_S).contains(&self.dtls_handshakes_per_s) {
            return Err(bad(
                "HOP_SERVER_DTLS_HANDSHAKES_PER_S",
                format!("must be 1..={MAX_HANDSHAKES_PER_S}"),
            ));
        }
        if !(1..=MAX_HANDSHAKES_PER_S).contains(&self.dtls_handshake_burst) {
            return Err(bad(
                "HOP_SERVER_DTLS_HANDSHAKE_BURST",
                format!("must be 1..={MAX_HANDSHAKES_PER_S}"),
            ));
        }
        if self.dtls_migration_candidates > MAX_MIGRATION_CANDIDATES {
            return Err(bad(
                "HOP_SERVER_DTLS_MIGRATION_CANDIDATES",
                format!("must be 0..={MAX_MIGRATION_CANDIDATES} (each costs an AEAD check)"),
            ));
        }
        if !(1..=MAX_MIGRATION_TRIALS).contains(&self.dtls_migration_trials_per_ip) {
            return Err(bad(
                "HOP_SERVER_DTLS_MIGRATION_TRIALS_PER_IP",
                format!("must be 1..={MAX_MIGRATION_TRIALS} per second"),
            ));
        }
        if self.dtls_handshake_timeout.is_zero()
            || self.dtls_handshake_timeout > MAX_HANDSHAKE_TIMEOUT
        {
            return Err(bad(
                "HOP_SERVER_DTLS_HANDSHAKE_TIMEOUT",
                "must be positive and at most 60s (handshake state is held that long)",
            ));
        }
        if self.hello_timeout.is_zero() || self.hello_timeout > MAX_HANDSHAKE_TIMEOUT {
            return Err(bad(
                "HOP_SERVER_HELLO_TIMEOUT",
                "must be positive and at most 60s",
            ));
        }
        if !(16 * 1024..=1024 * 1024).contains(&self.hello_receive_window) {
            return Err(bad(
                "HOP_SERVER_HELLO_RECEIVE_WINDOW",
                "must be 16384..=1048576 bytes (a hello must fit; more is held for strangers)",
            ));
        }
        if !(1..=MAX_POOL_SESSIONS).contains(&self.max_pool_sessions) {
            return Err(bad(
                "HOP_SERVER_MAX_POOL_SESSIONS",
                format!("must be 1..={MAX_POOL_SESSIONS} (each session holds its own state)"),
            ));
        }
        if !(256 * 1024..=64 * 1024 * 1024).contains(&self.tcp_send_queue_bytes) {
            return Err(bad(
                "HOP_SERVER_TCP_SEND_QUEUE_BYTES",
                "must be 262144..=67108864 bytes (several packets; more is held per slow agent)",
            ));
        }
        Ok(())
    }
}
