//! The settings as a TOML config file holds them (`--config FILE`), which
//! `hopgate-settings` fills from every source:
//!
//! ```toml
//! server_addr = "gw.example.com:443"
//! # server_name = "gw.example.com"      # default: the host of server_addr
//! # transport = "auto"                  # udp, tcp (TLS to the HTTPS port), or auto
//! # tcp_server_addr = "gw.example.com:443"  # default: server_addr
//! # local_ip = "192.0.2.10"             # leave from this local address (default: the routes')
//! # udp_timeout_ms = 3000                # auto: wait this long for UDP, then try tcp
//! # udp_silence_ms = 1500                # auto: UDP unheard this long: move to tcp
//! # udp_probe_first_ms = 5000            # auto, on tcp: try UDP again after at most this,
//! # udp_probe_max_ms = 60000             #   doubling up to this
//! # ha_connections = 2                  # sessions per tunnel, on distinct pods (1 to 4)
//! # server_fingerprint = "ab:cd:..."    # pin the gateway's certificate (required with debug)
//! # ca_file = "ca.pem"                  # trust this CA instead of the system's roots
//! # debug = false
//! # response_timeout_secs = 60
//! # verbose = false
//! # metrics_listen = "127.0.0.1:9100"   # /metrics, /healthz, /readyz (off by default)
//! # log_level = "info"                  # trace, debug, info, warning, error, critical
//! # inspect = "on"                      # the request inspector (on by default)
//! # inspect_addr = "127.0.0.1:4040"     # its web page and JSON API
//! # inspect_max_exchanges = 200         # requests kept, the newest
//! # inspect_body_prefix_bytes = 16384   # bytes kept of each body
//! # inspect_budget_bytes = 8388608      # bytes kept in all
//! # inspect_max_connections = 32        # connections to the inspector at once
//! # inspect_max_request_bytes = 1048576 # the largest request it reads (a replay's edits)
//!
//! [[tunnel]]
//! domain = "app.example.com"
//! api_key = "..."
//! local_target = 3000                   # or "localhost:3000", "http://127.0.0.1:3000"
//! # host_header = "rewrite"             # preserve (default), rewrite, or a host[:port]
//! # local_protocol = "h2c"              # auto (default), http1, or h2c
//! # basic_auth = ["alice:a-long-password"]  # visitors must give one of these (HTTP Basic)
//! # pool = true                        # serve the domain with the other agents started
//! #                                     # with --pool, instead of replacing the live one
//! ```
//!
//! An unknown key is an error naming it; a relative `ca_file` is relative to the file's
//! folder. `--print-config` prints this struct (API keys and `basic_auth` entries as `***`).

use std::path::PathBuf;

use hopgate_settings::{Secret, values};
use serde::{Deserialize, Deserializer, Serialize};

use super::{
    DEFAULT_HA_CONNECTIONS, DEFAULT_RESPONSE_TIMEOUT, DEFAULT_UDP_PROBE_FIRST,
    DEFAULT_UDP_PROBE_MAX, DEFAULT_UDP_SILENCE, DEFAULT_UDP_TIMEOUT, inspector,
};

/// Every setting, merged, not yet checked.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The gateway's data-plane address, `host:port`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_addr: Option<String>,
    /// The name the gateway's certificate must carry (default: the host of `server_addr`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// What carries the session: `auto` (default), `udp` or `tcp`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    /// The gateway's HTTPS address for the `tcp` transport (default: `server_addr`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_server_addr: Option<String>,
    /// The local IP the sessions leave from (default: the one the routes pick).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_ip: Option<String>,
    /// `auto`: how long to wait for a UDP session before trying TCP.
    #[serde(with = "values::whole_number")]
    pub udp_timeout_ms: u64,
    /// `auto`: how long a UDP session may go unheard before the tunnel moves to TCP.
    #[serde(with = "values::whole_number")]
    pub udp_silence_ms: u64,
    /// `auto`, on TCP: the longest first wait before trying UDP again.
    #[serde(with = "values::whole_number")]
    pub udp_probe_first_ms: u64,
    /// `auto`, on TCP: the longest wait between tries of UDP.
    #[serde(with = "values::whole_number")]
    pub udp_probe_max_ms: u64,
    /// Sessions each tunnel keeps, on distinct pods.
    #[serde(with = "values::whole_number")]
    pub ha_connections: u64,
    /// The pinned SHA-256 fingerprint of the gateway's certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_fingerprint: Option<String>,
    /// A PEM file of CA certificates to trust instead of the system's roots.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Debug mode: the gateway's certificate is self-signed, so a fingerprint is required.
    pub debug: bool,
    /// How long the local service may take to start its response.
    #[serde(with = "values::whole_number")]
    pub response_timeout_secs: u64,
    /// Log every request, not only failures.
    pub verbose: bool,
    /// Where to serve `/metrics`, `/healthz`, `/readyz` (off when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<String>,
    /// The lowest log level written (default `info`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    /// The request inspector: `on` (default) or `off`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inspect: Option<String>,
    /// Where the inspector listens (default `127.0.0.1:4040`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inspect_addr: Option<String>,
    /// Requests the inspector keeps.
    #[serde(with = "values::whole_number")]
    pub inspect_max_exchanges: u64,
    /// Bytes the inspector keeps of each body.
    #[serde(with = "values::whole_number")]
    pub inspect_body_prefix_bytes: u64,
    /// Bytes the inspector keeps in all.
    #[serde(with = "values::whole_number")]
    pub inspect_budget_bytes: u64,
    /// Connections the inspector serves at once.
    #[serde(with = "values::whole_number")]
    pub inspect_max_connections: u64,
    /// The largest request body the inspector reads.
    #[serde(with = "values::whole_number")]
    pub inspect_max_request_bytes: u64,
    /// The tunnels to serve, one session each.
    pub tunnel: Vec<Tunnel>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server_addr: None,
            server_name: None,
            transport: None,
            tcp_server_addr: None,
            local_ip: None,
            udp_timeout_ms: DEFAULT_UDP_TIMEOUT.as_millis() as u64,
            udp_silence_ms: DEFAULT_UDP_SILENCE.as_millis() as u64,
            udp_probe_first_ms: DEFAULT_UDP_PROBE_FIRST.as_millis() as u64,
            udp_probe_max_ms: DEFAULT_UDP_PROBE_MAX.as_millis() as u64,
            ha_connections: DEFAULT_HA_CONNECTIONS as u64,
            server_fingerprint: None,
            ca_file: None,
            debug: false,
            response_timeout_secs: DEFAULT_RESPONSE_TIMEOUT.as_secs(),
            verbose: false,
            metrics_listen: None,
            log_level: None,
            inspect: None,
            inspect_addr: None,
            inspect_max_exchanges: inspector::DEFAULT_INSPECT_MAX_EXCHANGES,
            inspect_body_prefix_bytes: inspector::DEFAULT_INSPECT_BODY_PREFIX_BYTES,
            inspect_budget_bytes: inspector::DEFAULT_INSPECT_BUDGET_BYTES,
            inspect_max_connections: inspector::DEFAULT_INSPECT_MAX_CONNECTIONS,
            inspect_max_request_bytes: inspector::DEFAULT_INSPECT_MAX_REQUEST_BYTES,
            tunnel: Vec::new(),
        }
    }
}

/// One `[[tunnel]]`; any field may be missing until checked.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tunnel {
    /// The public domain to serve.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The domain's client API key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<Secret>,
    /// The local service: a port, host:port or http:// URL.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "port_or_text"
    )]
    pub local_target: Option<String>,
    /// The `Host` the local service sees: `preserve`, `rewrite` or a `host[:port]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_header: Option<String>,
    /// How the agent speaks to the local service: `http1`, `h2c` or `auto`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_protocol: Option<String>,
    /// `user:password` pairs visitors must give (HTTP Basic); none: no password asked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub basic_auth: Vec<Secret>,
    /// Join the domain's pool of agents instead of replacing the live one.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub pool: bool,
}

/// `local_target = 3000` or `local_target = "localhost:3000"`.
fn port_or_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Target {
        Port(u64),
        Text(String),
    }
    Ok(Some(match Target::deserialize(d)? {
        Target::Port(port) => port.to_string(),
        Target::Text(text) => text,
    }))
}
