//! The data-plane's settings: defaults < TOML file (`--config`) < `HOP_…` variables < CLI
//! flags (layered by `hopgate-settings`), then [`Config::validate`], which names the bad
//! setting, where its value came from, and why.

use std::{fmt, net::SocketAddr, path::PathBuf, str::FromStr, time::Duration};

use hopgate_settings::{Env, Loaded, LogLevel, Secret, Setting, SettingsError, Spec, values};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// DTLS handshakes the listener holds in progress at once, from all sources.
pub(crate) const MAX_HANDSHAKES: u32 = 4_096;

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

/// Every setting: TOML key, variable, help. The flag is the key with `-` (`--https-listen`).
const SETTINGS: &[Setting] = &[
    Setting::value(
        "http_listen",
        "HOP_SERVER_HTTP_LISTEN",
        "Plain HTTP listener: ACME HTTP-01 answers and redirects to HTTPS [default: 0.0.0.0:80]",
    ),
    Setting::value(
        "https_listen",
        "HOP_SERVER_HTTPS_LISTEN",
        "HTTPS listener for visitors [default: 0.0.0.0:443]",
    ),
    Setting::value(
        "dtls_listen",
        "HOP_SERVER_DTLS_LISTEN",
        "DTLS (UDP) listener for agents [default: 0.0.0.0:443]",
    ),
    Setting::value(
        "domain",
        "HOP_SERVER_DOMAIN",
        "The gateway's main domain (required)",
    ),
    Setting::switch(
        "debug",
        "HOP_SERVER_DEBUG",
        "Self-signed certificates (agents pin the fingerprint printed at start)",
    ),
    Setting::value(
        "control_plane_url",
        "HOP_CONTROL_PLANE_URL",
        "The control-plane's internal listener, which pushes the routing table",
    ),
    Setting::value(
        "internal_token",
        "HOP_INTERNAL_TOKEN",
        "The token shared with the control-plane's internal listener (secret)",
    ),
    Setting::value(
        "pod_id",
        "HOP_POD_ID",
        "This pod's name in the control-plane's view [default: the host name]",
    ),
    Setting::list(
        "dev_domains",
        "HOP_DEV_DOMAINS",
        "A fixed routing table instead of the control-plane's (debug mode only): DOMAIN=KEY, \
         repeatable or comma-separated",
    )
    .flag("dev-domain"),
    Setting::value(
        "state_dir",
        "HOP_SERVER_STATE_DIR",
        "Where the last table snapshot and, in debug mode, debug-cert.pem are kept",
    ),
    Setting::value(
        "metrics_listen",
        "HOP_METRICS_LISTEN",
        "Internal listener for /metrics, /healthz, /readyz [default: 127.0.0.1:9100]",
    ),
    Setting::value(
        "header_timeout",
        "HOP_SERVER_HEADER_TIMEOUT",
        "How long a visitor may take to send a request's headers [default: 10s]",
    ),
    Setting::value(
        "drain_timeout",
        "HOP_SERVER_DRAIN_TIMEOUT",
        "On SIGTERM, how long requests in flight may take to finish [default: 30s]",
    ),
    Setting::value(
        "relay_listen",
        "HOP_SERVER_RELAY_LISTEN",
        "Listener for requests other pods relay here (cross-pod routing), or 'off' \
         [default: 0.0.0.0:8444 in production, off in debug mode]",
    ),
    Setting::value(
        "relay_port",
        "HOP_SERVER_RELAY_PORT",
        "The port other pods reach the relay listener on, at the address this pod reports \
         to the control-plane from [default: the listener's port]",
    ),
    Setting::value(
        "relay_token",
        "HOP_RELAY_TOKEN",
        "The pods' shared relay secret, 32+ characters, not HOP_INTERNAL_TOKEN (secret; \
         required with HOP_CONTROL_PLANE_URL or the relay listener)",
    ),
    Setting::value(
        "relay_tls_cert",
        "HOP_RELAY_TLS_CERT",
        "PEM certificate chain: the relay listener serves HTTPS [default: plain HTTP]",
    ),
    Setting::value(
        "relay_tls_key",
        "HOP_RELAY_TLS_KEY",
        "PEM private key of HOP_RELAY_TLS_CERT",
    ),
    Setting::value(
        "relay_ca",
        "HOP_RELAY_CA",
        "PEM CA that issued the pods' relay certificates: relays go over HTTPS, verified \
         against it alone [default: plain HTTP]",
    ),
    Setting::value(
        "relay_server_name",
        "HOP_RELAY_SERVER_NAME",
        "The name every relay certificate carries (relay URLs are IP addresses) \
         [default: hopgate-relay]",
    ),
    Setting::value(
        "control_plane_ca",
        "HOP_CONTROL_PLANE_CA",
        "PEM CA an https:// HOP_CONTROL_PLANE_URL is verified against alone \
         [default: the public roots]",
    ),
    Setting::value(
        "response_timeout",
        "HOP_SERVER_RESPONSE_TIMEOUT",
        "How long a request may wait for the agent's response head [default: 60s]",
    ),
    Setting::value(
        "stream_wait",
        "HOP_SERVER_STREAM_WAIT",
        "How long a request may wait for a free stream on the agent's session before a 503 \
         [default: 5s]",
    ),
    Setting::value(
        "body_timeout",
        "HOP_SERVER_BODY_TIMEOUT",
        "How long a request body may make no progress before it is cut (408); not \
         WebSockets [default: 30s]",
    ),
    Setting::value(
        "max_requests_per_domain",
        "HOP_SERVER_MAX_REQUESTS_PER_DOMAIN",
        "Requests (WebSockets included) one domain may have in flight on this pod; more get \
         a 503 [default: 768, below an agent's 1,024 streams]",
    ),
    Setting::value(
        "max_requests_per_client",
        "HOP_SERVER_MAX_REQUESTS_PER_CLIENT",
        "Requests (WebSockets included) one client IP (an IPv6 /64) may have in flight on \
         this pod; more get a 503 [default: 384]",
    ),
    Setting::value(
        "tls_handshake_timeout",
        "HOP_SERVER_TLS_HANDSHAKE_TIMEOUT",
        "How long a visitor's TLS handshake may take from the accept before the connection \
         is closed [default: 3s]",
    ),
    Setting::value(
        "tls_ticket_key_rotation",
        "HOP_SERVER_TLS_TICKET_KEY_ROTATION",
        "How long the HTTPS listener's TLS session ticket keys live: a visitor coming back \
         within it resumes its session without a full handshake; at most 2h, 0 turns \
         resumption off [default: 1h]",
    ),
    Setting::value(
        "max_connections_per_ip",
        "HOP_SERVER_MAX_CONNECTIONS_PER_IP",
        "Open connections one client IP (an IPv6 /64) may hold on the HTTPS and HTTP \
         listeners together; more are closed at once [default: 256]",
    ),
    Setting::value(
        "max_handshakes_per_ip",
        "HOP_SERVER_MAX_HANDSHAKES_PER_IP",
        "TLS handshakes one client IP (an IPv6 /64) may have in progress; more connections \
         are closed at once [default: 32]",
    ),
    Setting::value(
        "h2_max_concurrent_streams",
        "HOP_SERVER_H2_MAX_CONCURRENT_STREAMS",
        "Streams one HTTP/2 connection may have open; more are refused (REFUSED_STREAM) \
         [default: 128]",
    ),
    Setting::value(
        "h2_max_header_list_size",
        "HOP_SERVER_H2_MAX_HEADER_LIST_SIZE",
        "Largest HTTP/2 header block, in bytes once decoded; heads the tunnel can't carry (over \
         64 KiB) are answered with the 431 page up to this size [default: 131072]",
    ),
    Setting::value(
        "h2_max_pending_resets",
        "HOP_SERVER_H2_MAX_PENDING_RESETS",
        "Streams an HTTP/2 client may open and reset before the pod takes them up; more \
         close the connection (GOAWAY ENHANCE_YOUR_CALM; rapid reset) [default: 20]",
    ),
    Setting::value(
        "h2_max_error_resets",
        "HOP_SERVER_H2_MAX_ERROR_RESETS",
        "Streams the pod may reset for an HTTP/2 client's protocol errors before it closes \
         the connection (GOAWAY ENHANCE_YOUR_CALM) [default: 256]",
    ),
    Setting::value(
        "dtls_handshakes_per_ip",
        "HOP_SERVER_DTLS_HANDSHAKES_PER_IP",
        "DTLS handshakes one source IP may have in progress (after its cookie round trip); \
         more are refused [default: 8]",
    ),
    Setting::value(
        "dtls_migration_candidates",
        "HOP_SERVER_DTLS_MIGRATION_CANDIDATES",
        "A DTLS record from a new port of an agent's IP (a NAT rebinding) is tried against \
         this many of that IP's sessions, the most recently active; one it authenticates \
         under moves there. 0 turns this off (the agent reconnects after its idle timeout) \
         [default: 8]",
    ),
    Setting::value(
        "dtls_migration_trials_per_ip",
        "HOP_SERVER_DTLS_MIGRATION_TRIALS_PER_IP",
        "Such records one source IP may have tried per second; more are dropped \
         (hopgate_dtls_migrations_total{result=\"rate_limited\"}) [default: 32]",
    ),
    Setting::value(
        "dtls_handshake_timeout",
        "HOP_SERVER_DTLS_HANDSHAKE_TIMEOUT",
        "How long a DTLS handshake may take before its state is dropped, and an agent's TLS \
         connection on the tunnel's ALPN to set its session up before it is closed \
         [default: 5s]",
    ),
    Setting::value(
        "hello_timeout",
        "HOP_SERVER_HELLO_TIMEOUT",
        "How long a new agent session may take to send its hello; until then it may open one \
         stream and send HOP_SERVER_HELLO_RECEIVE_WINDOW [default: 5s]",
    ),
    Setting::value(
        "hello_receive_window",
        "HOP_SERVER_HELLO_RECEIVE_WINDOW",
        "Bytes a new agent session may send before its hello is accepted, at least 16384 \
         [default: 65536]",
    ),
    Setting::value(
        "max_pool_sessions",
        "HOP_SERVER_MAX_POOL_SESSIONS",
        "Agents one domain's pool may hold on this pod (agents started with --pool); more \
         are refused with pool_full [default: 16]",
    ),
    Setting::value(
        "tcp_send_queue_bytes",
        "HOP_SERVER_TCP_SEND_QUEUE_BYTES",
        "Bytes queued towards one agent whose session runs over TCP (the fallback on the \
         HTTPS port); beyond this its packets are dropped, so a slow reader slows only its own \
         session [default: 4194304]",
    ),
    Setting::value(
        "log_level",
        "HOP_LOG_LEVEL",
        "error, warn, info or debug [default: info]",
    ),
];

/// The shortest relay token accepted.
pub(crate) const MIN_RELAY_TOKEN_LEN: usize = 32;

/// The name relay certificates are verified for (`HOP_RELAY_SERVER_NAME`'s default).
pub(crate) const DEFAULT_RELAY_SERVER_NAME: &str = "hopgate-relay";

/// The data-plane's command line and settings.
pub const SPEC: Spec = Spec::new(
    "hopgate-data-plane",
    "HopGate data-plane: HTTPS in, through agents' DTLS sessions",
    SETTINGS,
);

/// `hopgate-data-plane` settings (field = TOML key).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    #[serde(with = "values::socket_addr")]
    pub(crate) http_listen: SocketAddr,
    #[serde(with = "values::socket_addr")]
    pub(crate) https_listen: SocketAddr,
    #[serde(with = "values::socket_addr")]
    pub(crate) dtls_listen: SocketAddr,
    pub(crate) domain: String,
    pub(crate) debug: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) control_plane_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) internal_token: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) pod_id: Option<String>,
    pub(crate) dev_domains: Vec<DevDomain>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) state_dir: Option<PathBuf>,
    #[serde(with = "values::socket_addr")]
    pub(crate) metrics_listen: SocketAddr,
    #[serde(with = "values::duration")]
    pub(crate) header_timeout: Duration,
    #[serde(with = "values::duration")]
    pub(crate) drain_timeout: Duration,
    /// `0.0.0.0:8444`, `off`, or unset (see [`Config::relay_listen`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) relay_listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) relay_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) relay_token: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) relay_tls_cert: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) relay_tls_key: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) relay_ca: Option<PathBuf>,
    pub(crate) relay_server_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) control_plane_ca: Option<PathBuf>,
    #[serde(with = "values::duration")]
    pub(crate) response_timeout: Duration,
    #[serde(with = "values::duration")]
    pub(crate) stream_wait: Duration,
    #[serde(with = "values::duration")]
    pub(crate) body_timeout: Duration,
    pub(crate) max_requests_per_domain: u32,
    pub(crate) max_requests_per_client: u32,
    #[serde(with = "values::duration")]
    pub(crate) tls_handshake_timeout: Duration,
    #[serde(with = "values::duration")]
    pub(crate) tls_ticket_key_rotation: Duration,
    pub(crate) max_connections_per_ip: u32,
    pub(crate) max_handshakes_per_ip: u32,
    pub(crate) h2_max_concurrent_streams: u32,
    pub(crate) h2_max_header_list_size: u32,
    pub(crate) h2_max_pending_resets: u32,
    pub(crate) h2_max_error_resets: u32,
    pub(crate) dtls_handshakes_per_ip: u32,
    pub(crate) dtls_migration_candidates: u32,
    pub(crate) dtls_migration_trials_per_ip: u32,
    #[serde(with = "values::duration")]
    pub(crate) dtls_handshake_timeout: Duration,
    #[serde(with = "values::duration")]
    pub(crate) hello_timeout: Duration,
    pub(crate) hello_receive_window: u32,
    pub(crate) max_pool_sessions: u32,
    pub(crate) tcp_send_queue_bytes: u32,
    pub(crate) log_level: LogLevel,
}

impl Default for Config {
    fn default() -> Self {
        let any = |port| SocketAddr::from(([0, 0, 0, 0], port));
        Self {
            http_listen: any(80),
            https_listen: any(443),
            dtls_listen: any(443),
            domain: String::new(),
            debug: false,
            control_plane_url: None,
            internal_token: None,
            pod_id: None,
            dev_domains: Vec::new(),
            state_dir: None,
            metrics_listen: SocketAddr::from(([127, 0, 0, 1], 9100)),
            header_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(30),
            relay_listen: None,
            relay_port: None,
            relay_token: None,
            relay_tls_cert: None,
            relay_tls_key: None,
            relay_ca: None,
            relay_server_name: DEFAULT_RELAY_SERVER_NAME.to_owned(),
            control_plane_ca: None,
            response_timeout: Duration::from_secs(60),
            stream_wait: Duration::from_secs(5),
            body_timeout: Duration::from_secs(30),
            max_requests_per_domain: 768,
            max_requests_per_client: 384,
            tls_handshake_timeout: Duration::from_secs(3),
            tls_ticket_key_rotation: Duration::from_secs(3600),
            max_connections_per_ip: 256,
            // Above the bursts of one busy client (browsers open at most 6 connections
            // per host at once; an office behind one NAT several times that).
            max_handshakes_per_ip: 32,
            h2_max_concurrent_streams: 128,
            // Twice the head a request may carry (64 KiB encoded): a larger head still gets
            // the gateway's 431 page, not h2's bare 431; as much as HTTP/1.1's parser reads.
            h2_max_header_list_size: 128 * 1024,
            // h2's own default, named here.
            h2_max_pending_resets: 20,
            h2_max_error_resets: 256,
            dtls_handshakes_per_ip: 8,
            // A NAT rebinding needs one trial; several agents behind one NAT may rebind at
            // once. A record that fails costs one AEAD check per candidate.
            dtls_migration_candidates: 8,
            dtls_migration_trials_per_ip: 32,
            dtls_handshake_timeout: Duration::from_secs(5),
            hello_timeout: Duration::from_secs(5),
            hello_receive_window: 64 * 1024,
            max_pool_sessions: 16,
            tcp_send_queue_bytes: 4 * 1024 * 1024,
            log_level: LogLevel::Info,
        }
    }
}

/// One `DOMAIN=KEY` entry of the development table.
#[derive(Clone)]
pub(crate) struct DevDomain {
    pub(crate) domain: String,
    pub(crate) key: String,
}

impl fmt::Debug for DevDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}=***", self.domain)
    }
}

impl FromStr for DevDomain {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (domain, key) = s.split_once('=').ok_or("expected DOMAIN=KEY")?;
        let domain = crate::host::normalize(domain).map_err(|e| format!("domain: {e}"))?;
        if key.len() < 16 {
            return Err("the key must be at least 16 characters".into());
        }
        Ok(Self {
            domain,
            key: key.to_owned(),
        })
    }
}

impl Serialize for DevDomain {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{self:?}"))
    }
}

impl<'de> Deserialize<'de> for DevDomain {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A setting that is wrong: its variable (naming the setting) and why.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) var: &'static str,
    pub(crate) reason: String,
}

fn bad(var: &'static str, reason: impl Into<String>) -> Problem {
    Problem {
        var,
        reason: reason.into(),
    }
}

/// Reads the command line and `env`, then validates: the error names the variable, flag
/// or `file: key` that set the bad value.
pub fn load(
    args: impl IntoIterator<Item = impl Into<std::ffi::OsString> + Clone>,
    env: &dyn Env,
) -> Result<Loaded<Config>, SettingsError> {
    let loaded = SPEC.load::<Config>(args, env)?;
    match loaded.value.validate() {
        Ok(()) => Ok(loaded),
        Err(problem) => Err(loaded.invalid(problem.var, problem.reason)),
    }
}

impl Config {
    /// The level logs are written from (`HOP_LOG_LEVEL`).
    pub fn log_level(&self) -> LogLevel {
        self.log_level
    }

    /// Where the relay listener binds, if anywhere.
    pub(crate) fn relay_listen(&self) -> Result<Option<SocketAddr>, Problem> {
        match self.relay_listen.as_deref().map(str::trim) {
            None if self.debug => Ok(None),
            None => Ok(Some(SocketAddr::from(([0, 0, 0, 0], 8444)))),
            Some("off" | "") => Ok(None),
            Some(addr) => addr.parse().map(Some).map_err(|_| {
                bad(
                    "HOP_SERVER_RELAY_LISTEN",
                    format!("'{addr}' is not a socket address or 'off'"),
                )
            }),
        }
    }

    /// Checks what parsing can't: names the bad setting and why.
    pub(crate) fn validate(&self) -> Result<(), Problem> {
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
        match (&self.control_plane_url, self.dev_domains.is_empty()) {
            (Some(_), false) => {
                return Err(bad(
                    "HOP_DEV_DOMAINS",
                    "not used with HOP_CONTROL_PLANE_URL \
                     (the control-plane's table is the routing table); set one",
                ));
            }
            (Some(url), true) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(bad(
                        "HOP_CONTROL_PLANE_URL",
                        format!("'{url}' is not an http:// or https:// URL"),
                    ));
                }
                if self.internal_token.as_ref().is_none_or(Secret::is_empty) {
                    return Err(bad(
                        "HOP_INTERNAL_TOKEN",
                        "required with HOP_CONTROL_PLANE_URL",
                    ));
                }
            }
            (None, _) => {}
        }
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
        self.validate_internal_trust()?;
        if self.header_timeout.is_zero() {
            return Err(bad("HOP_SERVER_HEADER_TIMEOUT", "must be positive"));
        }
        if self.response_timeout.is_zero() {
            return Err(bad("HOP_SERVER_RESPONSE_TIMEOUT", "must be positive"));
        }
        if self.stream_wait.is_zero() {
            return Err(bad("HOP_SERVER_STREAM_WAIT", "must be positive"));
        }
        if self.body_timeout.is_zero() {
            return Err(bad("HOP_SERVER_BODY_TIMEOUT", "must be positive"));
        }
        if self.max_requests_per_domain == 0 {
            return Err(bad(
                "HOP_SERVER_MAX_REQUESTS_PER_DOMAIN",
                "must be at least 1",
            ));
        }
        if self.max_requests_per_client == 0 {
            return Err(bad(
                "HOP_SERVER_MAX_REQUESTS_PER_CLIENT",
                "must be at least 1",
            ));
        }
        self.validate_connection_limits()?;
        self.validate_agent_limits()
    }

    /// The listeners' limits: each at least 1, and no handshake cap above the connection
    /// cap it lives under.
    fn validate_connection_limits(&self) -> Result<(), Problem> {
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

    /// The HTTP/2 server's limits.
    pub(crate) fn h2_limits(&self) -> actix_http::H2Limits {
        actix_http::H2Limits {
            max_concurrent_streams: Some(self.h2_max_concurrent_streams),
            max_header_list_size: Some(self.h2_max_header_list_size),
            max_pending_accept_reset_streams: Some(self.h2_max_pending_resets as usize),
            max_local_error_reset_streams: Some(self.h2_max_error_resets as usize),
        }
    }
}

#[path = "config_trust.rs"]
mod trust;

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
