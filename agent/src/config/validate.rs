//! [`validate`]: from the merged settings to [`Settings`] the agent can run with, or the
//! first problem found, named by where its value came from.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use hopgate_settings::{Loaded, Secret, SettingsError};
use hopgate_transport::{ClientConfig, Fingerprint, ServerVerification};

use super::{
    BasicUser, Config, HostHeader, InspectorSettings, LocalProtocol, LocalTarget, ServerAddr,
    TransportChoice, inspector, observability, transport, tunnels, verification,
};

/// How long the local service may take to start answering, unless configured.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest response timeout accepted: a day.
const MAX_RESPONSE_TIMEOUT_SECS: u64 = 24 * 60 * 60;

/// How the agent checks that it reached the real gateway. There is no "don't check".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// The gateway's certificate must have this SHA-256 fingerprint (debug mode only).
    Pinned(Fingerprint),
    /// The certificate must chain to a CA in this PEM file and carry the server name.
    CaFile {
        /// Where the CAs came from.
        path: PathBuf,
        /// The file's contents, read (and checked) during validation.
        pem: Vec<u8>,
    },
    /// The certificate must chain to one of the system's roots and carry the server name.
    SystemRoots,
}

/// One domain served from one local service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelSettings {
    /// The public domain, lower case.
    pub domain: String,
    /// The domain's client API key.
    pub api_key: Secret,
    /// The local service.
    pub target: LocalTarget,
    /// The `Host` the local service sees.
    pub host_header: HostHeader,
    /// How the agent speaks to the local service.
    pub local_protocol: LocalProtocol,
    /// The users visitors must authenticate as (HTTP Basic); empty: anyone.
    pub basic_auth: Vec<BasicUser>,
    /// Join the domain's pool of agents (`--pool`) instead of replacing the live one.
    pub pool: bool,
}

/// Everything the agent runs with, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The gateway's data-plane address.
    pub server: ServerAddr,
    /// The name the gateway's certificate must carry (DTLS and TLS server name).
    pub server_name: String,
    /// What carries the sessions, and where the gateway's TLS port is.
    pub transport: TransportChoice,
    /// How the gateway's certificate is checked.
    pub verification: Verification,
    /// How long the local service may take to start its response.
    pub response_timeout: Duration,
    /// Log every request, not only failures.
    pub verbose: bool,
    /// Where `/metrics`, `/healthz` and `/readyz` are served, if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    /// The lowest log level written.
    pub log_level: slog::Level,
    /// The request inspector, unless turned off.
    pub inspector: Option<InspectorSettings>,
    /// The tunnels, one session each; at least one, domains distinct.
    pub tunnels: Vec<TunnelSettings>,
}

impl Settings {
    /// The transport's client configuration. Loads the system's roots when no fingerprint
    /// or CA file was given; fails (naming `ca_file`) if there are none.
    pub fn client_config(&self) -> Result<ClientConfig, SettingsError> {
        let verification = match &self.verification {
            Verification::Pinned(fingerprint) => ServerVerification::Pinned(*fingerprint),
            Verification::CaFile { path, pem } => {
                ServerVerification::ca_pem(pem).map_err(|e| SettingsError::Invalid {
                    setting: "ca_file".to_owned(),
                    reason: format!("{}: {}", path.display(), e.reason),
                })?
            }
            Verification::SystemRoots => {
                ServerVerification::system_roots().map_err(|e| SettingsError::Invalid {
                    setting: e.field.to_owned(),
                    reason: e.reason,
                })?
            }
        };
        let mut client = ClientConfig::new(self.server_name.clone(), verification);
        client.local_ip = self.transport.local_ip;
        Ok(client)
    }
}

/// Checks every setting and their combinations; the error names the first bad one, where
/// its value came from, and why.
pub fn validate(loaded: &Loaded<Config>) -> Result<Settings, SettingsError> {
    let config = &loaded.value;
    let server = server_addr(config).map_err(|why| loaded.invalid("server_addr", why))?;
    let server_name = match &config.server_name {
        None => server.host().to_owned(),
        Some(name) => server_name(name).map_err(|why| loaded.invalid("server_name", why))?,
    };
    let udp_probe_first = transport::udp_probe_first(config.udp_probe_first_ms)
        .map_err(|why| loaded.invalid("udp_probe_first_ms", why))?;
    let transport = TransportChoice {
        mode: transport::mode(config.transport.as_deref())
            .map_err(|why| loaded.invalid("transport", why))?,
        tcp_server: transport::tcp_server(config.tcp_server_addr.as_deref(), &server)
            .map_err(|why| loaded.invalid("tcp_server_addr", why))?,
        udp_timeout: transport::udp_timeout(config.udp_timeout_ms)
            .map_err(|why| loaded.invalid("udp_timeout_ms", why))?,
        udp_silence: transport::udp_silence(config.udp_silence_ms)
            .map_err(|why| loaded.invalid("udp_silence_ms", why))?,
        udp_probe_first,
        udp_probe_max: transport::udp_probe_max(config.udp_probe_max_ms, udp_probe_first)
            .map_err(|why| loaded.invalid("udp_probe_max_ms", why))?,
        ha_connections: transport::ha_connections(config.ha_connections)
            .map_err(|why| loaded.invalid("ha_connections", why))?,
        local_ip: transport::local_ip(config.local_ip.as_deref())
            .map_err(|why| loaded.invalid("local_ip", why))?,
    };
    let verification = verification::check(loaded)?;
    let response_timeout = response_timeout(config.response_timeout_secs)
        .map_err(|why| loaded.invalid("response_timeout_secs", why))?;
    let tunnels = tunnels::check(loaded)?;
    let metrics_listen = observability::metrics_listen(config.metrics_listen.as_deref())
        .map_err(|why| loaded.invalid("metrics_listen", why))?;
    let log_level = observability::log_level(config.log_level.as_deref())
        .map_err(|why| loaded.invalid("log_level", why))?;
    let inspector = inspector::check(loaded)?;
    Ok(Settings {
        server,
        server_name,
        transport,
        verification,
        response_timeout,
        verbose: config.verbose,
        metrics_listen,
        log_level,
        inspector,
        tunnels,
    })
}

fn server_addr(config: &Config) -> Result<ServerAddr, String> {
    match &config.server_addr {
        None => Err(
            "missing; give --server, HOP_CLIENT_SERVER_ADDR or server_addr in the config file"
                .to_owned(),
        ),
        Some(addr) => ServerAddr::parse(addr),
    }
}

fn server_name(name: &str) -> Result<String, String> {
    let value = name.trim();
    if value.is_empty() || value.contains(char::is_whitespace) || value.contains('/') {
        return Err(format!("{name:?} is not a host name"));
    }
    Ok(value.to_owned())
}

fn response_timeout(secs: u64) -> Result<Duration, String> {
    match secs {
        1..=MAX_RESPONSE_TIMEOUT_SECS => Ok(Duration::from_secs(secs)),
        _ => Err(format!(
            "{secs} is outside 1..={MAX_RESPONSE_TIMEOUT_SECS} seconds"
        )),
    }
}
