//! The pod assembled: [`run`] builds every part from the settings and the bound
//! [`Listeners`], serves until its shutdown future asks for the drain, and says why it
//! stopped if it stops on its own.
//!
//! Start-up, in order: the state directory, the certificate the pod starts with
//! (`certificate`), the DTLS listener, the routing table's source (the control-plane's
//! subscription, or the fixed development table), the agents' accept loop, then the HTTP
//! servers (`servers`) and the drain that waits for the shutdown.

mod certificate;
mod servers;

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use hopgate_table_client::Subscriber;
use hopgate_transport::{Listener, ServerConfig};
use slog::{Logger, info};

use self::{
    certificate::Certificate,
    servers::{Servers, Sockets},
};
use crate::{
    certs::CertStore,
    config::Config,
    cross_pod,
    listeners::Listeners,
    ops::{in_flight::InFlight, metrics::Metrics},
    table::{self, control_plane::TableStatus},
    tunnel::{
        self,
        routing::{DomainEntry, RoutingTable, hash_key},
    },
};

/// Why the pod stopped on its own (or never started).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// `HOP_SERVER_DOMAIN` isn't a host name.
    #[error("domain {0}")]
    Domain(&'static str),
    /// The state directory (`HOP_SERVER_STATE_DIR`) can't be made private.
    #[error("HOP_SERVER_STATE_DIR {}", path.display())]
    StateDir {
        /// The directory.
        path: std::path::PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// The certificate the pod starts with can't be made, saved or loaded.
    #[error(transparent)]
    Certificate(anyhow::Error),
    /// The DTLS identity can't be made from the certificate.
    #[error(transparent)]
    Identity(#[from] hopgate_transport::IdentityError),
    /// The DTLS listener refused its settings or its socket.
    #[error(transparent)]
    Dtls(#[from] hopgate_transport::ListenError),
    /// The relay's TLS settings can't be used.
    #[error(transparent)]
    RelayTls(anyhow::Error),
    /// The link to the control-plane can't be set up.
    #[error(transparent)]
    ControlPlane(anyhow::Error),
    /// A listener failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// What the pod's parts share.
struct Core {
    /// `HOP_SERVER_DOMAIN`, normalized.
    domain: String,
    table: Arc<RoutingTable>,
    status: Arc<TableStatus>,
    metrics: Arc<Metrics>,
    dtls: Arc<Listener>,
    /// Requests in flight (for the drain and `/metrics`).
    in_flight: Arc<InFlight>,
    /// Requests relayed to another pod.
    relayed: Arc<AtomicU64>,
    log: Logger,
}

impl Core {
    fn new(config: &Config, domain: String, dtls: Listener, log: Logger) -> Self {
        let status = TableStatus::default();
        if config.debug {
            // The self-signed certificate is the gateway's for good (agents pin it).
            status.gateway_certificate.store(true, Ordering::Relaxed);
        }
        Self {
            domain,
            table: RoutingTable::new(),
            status: Arc::new(status),
            metrics: Arc::new(Metrics::new()),
            dtls: Arc::new(dtls),
            in_flight: InFlight::new(),
            relayed: Arc::new(AtomicU64::new(0)),
            log,
        }
    }
}

/// Serves `listeners` as `config` says until `shutdown` resolves (with what asked for it,
/// logged as the `signal`) and the drain that follows has ended.
pub async fn run(
    listeners: Listeners,
    config: Config,
    log: Logger,
    shutdown: impl Future<Output = &'static str> + 'static,
) -> Result<(), RunError> {
    let (dtls, sockets) = Sockets::split(listeners);
    let domain = crate::host::normalize(&config.domain).map_err(RunError::Domain)?;
    prepare_state_dir(&config, &log)?;
    let (certificate, identity) = Certificate::start(&config, &domain, &log)?;
    let dtls = Listener::bind_group(dtls, dtls_settings(&config, identity))?;
    let core = Core::new(&config, domain, dtls, log);
    let relay_addr = sockets.relay_addr()?;
    // The control-plane pairs this port with the address the pod reports from.
    let relay_port = config
        .relay_port
        .or_else(|| relay_addr.map(|addr| addr.port()));
    let relay_client_tls = cross_pod::tls::client_for(&config).map_err(RunError::RelayTls)?;
    // Kept for the life of the pod: dropping it ends the subscription.
    // One name for the pod's life: the hello's answers and the placement reports use it.
    let pod_id: Arc<str> = config.pod_id.clone().unwrap_or_else(default_pod_id).into();
    let subscriber = routing_source(&config, &core, &certificate.store, relay_port, &pod_id)?;
    accept_agents(&config, &core, pod_id);
    let servers = sockets.serve(
        &config,
        &core,
        certificate,
        relay_client_tls,
        subscriber.as_ref(),
    )?;
    let drain = servers.drain(&config, &core, subscriber.is_some());
    actix::spawn(crate::ops::drain::on_signal(drain, shutdown));
    log_listening(&config, &core, &servers, relay_addr, relay_port);
    servers.join().await?;
    drop(subscriber);
    Ok(())
}

/// Accepts agents' sessions on the DTLS listener until it closes.
fn accept_agents(config: &Config, core: &Core, pod_id: Arc<str>) {
    actix::spawn(tunnel::accept::accept(
        core.dtls.clone(),
        tunnel::accept::AcceptSettings {
            hello_timeout: config.hello_timeout,
            pool_cap: config.max_pool_sessions as usize,
            leaving_drain: config.drain_timeout,
            agent_unheard_after: config.agent_unheard_after,
        },
        pod_id,
        core.table.clone(),
        core.status.clone(),
        core.metrics.clone(),
        core.log.clone(),
    ));
}

/// Makes the state directory private before anything is written to it.
fn prepare_state_dir(config: &Config, log: &Logger) -> Result<(), RunError> {
    let Some(dir) = &config.state_dir else {
        return Ok(());
    };
    crate::state_dir::prepare(dir, log).map_err(|source| RunError::StateDir {
        path: dir.clone(),
        source,
    })
}

/// The DTLS listener's limits from the settings.
fn dtls_settings(config: &Config, identity: hopgate_transport::Identity) -> ServerConfig {
    let mut listener = ServerConfig::new(identity);
    listener.max_handshakes = crate::config::MAX_HANDSHAKES as usize;
    listener.max_handshakes_per_ip = config.dtls_handshakes_per_ip as usize;
    listener.handshakes_per_s = config.dtls_handshakes_per_s;
    listener.handshake_burst = Some(config.dtls_handshake_burst);
    listener.dtls_handshake_timeout = config.dtls_handshake_timeout;
    listener.migration_candidates = config.dtls_migration_candidates as usize;
    listener.migration_attempts_per_ip_per_s = config.dtls_migration_trials_per_ip;
    listener.pre_hello_receive_window = config.hello_receive_window;
    // An agent opens its control stream and nothing else (the pod opens every request's
    // stream); allowing it more would only cost memory per session, and buffers it could
    // fill on streams nobody reads.
    listener.peer_streams_after_hello = Some(1);
    listener.transport.stream_send_queue_bytes = config.tcp_send_queue_bytes as usize;
    listener
}

/// Where the routing table comes from: the control-plane's subscription (returned: it must
/// be kept), or the development table fixed in the settings.
fn routing_source(
    config: &Config,
    core: &Core,
    store: &Arc<CertStore>,
    relay_port: Option<u16>,
    pod_id: &str,
) -> Result<Option<Subscriber>, RunError> {
    let (Some(url), Some(token)) = (&config.control_plane_url, &config.internal_token) else {
        fixed_table(config, core);
        return Ok(None);
    };
    let link = table::control_plane::Link {
        url: url.clone(),
        token: token.expose().to_owned(),
        pod_id: pod_id.to_owned(),
        state_dir: config.state_dir.clone(),
        relay_port,
        relay_tls: config.relay_tls_cert.is_some(),
        ca: table::control_plane::trusted_ca(config).map_err(RunError::ControlPlane)?,
        placement_wait: config.placement_wait,
    };
    info!(core.log, "routing table from the control-plane";
        "control_plane" => url, "pod_id" => &link.pod_id);
    let certs = table::certs::Targets {
        store: store.clone(),
        listener: core.dtls.clone(),
        main_domain: core.domain.clone(),
        status: core.status.clone(),
        debug: config.debug,
    };
    let subscriber = table::control_plane::start(
        link,
        core.table.clone(),
        certs,
        core.status.clone(),
        core.metrics.clone(),
        core.log.clone(),
    )
    .map_err(RunError::ControlPlane)?;
    Ok(Some(subscriber))
}

/// The development table (`HOP_DEV_DOMAINS`) as the routing table, loaded at once.
fn fixed_table(config: &Config, core: &Core) {
    let dev: HashMap<String, DomainEntry> = config
        .dev_domains
        .iter()
        .map(|d| {
            let entry = DomainEntry {
                key_hash: hash_key(&d.key),
                access: None,
            };
            (d.domain.clone(), entry)
        })
        .collect();
    info!(core.log, "fixed development routing table"; "domains" => dev.len());
    core.table.set_domains(dev);
    core.status.loaded.store(true, Ordering::Relaxed);
    core.status.placements_known.store(true, Ordering::Relaxed);
}

/// The line that says the pod serves, with every address (tests and operators read it).
fn log_listening(
    config: &Config,
    core: &Core,
    servers: &Servers,
    relay_addr: Option<SocketAddr>,
    relay_port: Option<u16>,
) {
    info!(core.log, "listening";
        "https" => servers.https_addr.to_string(), "http" => servers.http_addr.to_string(),
        "dtls" => core.dtls.local_addr().to_string(), "metrics" => servers.ops_addr.to_string(),
        "relay" => relay_addr.map(|a| a.to_string()), "relay_port" => relay_port,
        "relay_tls" => config.relay_tls_cert.is_some());
}

/// The pod's default name: the host name (a Kubernetes pod's name), else a random one.
fn default_pod_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| hopgate_table::valid_pod_id(name))
        .unwrap_or_else(|| format!("pod-{:08x}", rand::random::<u32>()))
}
