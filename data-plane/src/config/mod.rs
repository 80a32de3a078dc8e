//! The data-plane's settings: defaults < TOML file (`--config`) < `HOP_…` variables < CLI
//! flags (layered by `hopgate-settings`), then [`Config::validate`], which names the bad
//! setting, where its value came from, and why.
//!
//! - this module: the [`Config`] struct (field = TOML key), its defaults, and [`load`];
//! - `settings`: every setting's TOML key, `HOP_…` variable and help text;
//! - `dev_domain`: the entries of the development table (`HOP_DEV_DOMAINS`);
//! - `validate`: the checks parsing can't make, `trust` those of the relay token and of
//!   TLS between pods and to the control-plane.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use hopgate_settings::{Env, Loaded, LogLevel, Secret, SettingsError, Spec, values};
use serde::{Deserialize, Serialize};

pub(crate) use dev_domain::DevDomain;
use settings::SETTINGS;
pub(crate) use validate::Problem;
use validate::bad;

mod dev_domain;
mod settings;
mod trust;
mod validate;

#[cfg(test)]
mod tests;

/// DTLS handshakes the listener holds in progress at once, from all sources.
pub(crate) const MAX_HANDSHAKES: u32 = 4_096;

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
    #[serde(with = "values::duration")]
    pub(crate) agent_unheard_after: Duration,
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
    pub(crate) placement_wait: Duration,
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
    /// HTTPS connections the pod holds open at most, over all its workers.
    pub(crate) max_connections: u32,
    pub(crate) max_connections_per_ip: u32,
    pub(crate) max_handshakes_per_ip: u32,
    pub(crate) h2_max_concurrent_streams: u32,
    pub(crate) h2_max_header_list_size: u32,
    pub(crate) h2_max_pending_resets: u32,
    pub(crate) h2_max_error_resets: u32,
    pub(crate) dtls_handshakes_per_ip: u32,
    /// Sockets (each with a thread) serving the DTLS port; 0: one per core.
    pub(crate) dtls_sockets: u32,
    /// Threads accepting and serving visitors' HTTPS connections; 0: one per core.
    pub(crate) https_workers: u32,
    /// New DTLS handshakes started a second, at most.
    pub(crate) dtls_handshakes_per_s: u32,
    /// New DTLS handshakes that may start at once, on top of the rate.
    pub(crate) dtls_handshake_burst: u32,
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
            // Above the agents' keepalive interval (3 s), so that an idle agent whose NAT
            // rebound is heard from its new port in time; a killed agent's requests get
            // their 502 within 5 s.
            agent_unheard_after: Duration::from_secs(4),
            relay_listen: None,
            relay_port: None,
            relay_token: None,
            relay_tls_cert: None,
            relay_tls_key: None,
            relay_ca: None,
            relay_server_name: DEFAULT_RELAY_SERVER_NAME.to_owned(),
            control_plane_ca: None,
            placement_wait: Duration::from_secs(3),
            response_timeout: Duration::from_secs(60),
            stream_wait: Duration::from_secs(5),
            body_timeout: Duration::from_secs(30),
            max_requests_per_domain: 768,
            max_requests_per_client: 384,
            tls_handshake_timeout: Duration::from_secs(3),
            tls_ticket_key_rotation: Duration::from_secs(3600),
            // About what actix-server's per-worker cap allowed a 2-core pod.
            max_connections: 50_000,
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
            dtls_sockets: 0,
            https_workers: 0,
            dtls_handshakes_per_s: 500,
            // A tenth of a second at the rate: a storm of agents costs the sessions already
            // up a quarter of what a second's worth at once did (docs/benchmarks.md).
            dtls_handshake_burst: 50,
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

    /// How many sockets serve the DTLS port: the setting, or one per core.
    pub(crate) fn dtls_socket_count(&self) -> usize {
        match self.dtls_sockets {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            sockets => sockets as usize,
        }
    }

    /// How many threads accept and serve visitors' HTTPS: the setting, or one per core.
    pub(crate) fn https_worker_count(&self) -> usize {
        match self.https_workers {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            workers => workers as usize,
        }
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
