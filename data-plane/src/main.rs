//! `hopgate-data-plane`: terminates visitors' HTTPS (certificate chosen by SNI), accepts
//! agents' DTLS sessions, and carries each request through the session of its domain.
//!
//! # Layout
//!
//! - `config`, `host`, `logging`: settings (defaults < `--config` TOML file < `HOP_…`
//!   variables < flags; exit code 2 when one is wrong), host-name normalization, JSON logs
//!   at `HOP_LOG_LEVEL`.
//! - `certs`: the SNI certificate map and the debug self-signed certificate.
//! - `edge_listener`: the visitors' listeners (HTTPS, port 80): `admission` (per-IP caps on
//!   connections and TLS handshakes), the handshake's deadline, HTTP/2's limits;
//!   `edge_connection`: an admitted connection and what its requests learn of it.
//! - `routing`: domain table (key hashes) and live sessions, read without a global lock.
//! - `control_plane`: the table the control-plane pushes, and the session reports.
//! - `agents`: the DTLS listener's accept loop and the agents' hello.
//! - `session_actor`: one actor per agent session.
//! - `request_actor`: one actor per visitor request; `proxy`: the HTTPS handler around it;
//!   `limits`: the caps on requests in flight per domain and per client; `guarded_body`:
//!   a response body holding what must live until the answer ends.
//! - `relay_out`, `relay`: cross-pod routing, relaying a request to the pod that holds the
//!   agent's session, and that pod's relay listener (`HOP_RELAY_TOKEN`); `relay_tls`:
//!   HTTPS between pods on that path; `relay_url`: the relay's URL, built from parts and
//!   checked to name the chosen pod.
//! - `target`: only origin-form request targets pass the edge; `sni`: a request's Host
//!   must be one its TLS connection was made for (else 421).
//! - `headers`, `pages`: forwarding rules and error pages; `plain_http`: port 80;
//!   `internal`: `/metrics`, `/healthz`, `/readyz`; `metrics`: the Prometheus metrics.
//! - `state_dir`: `HOP_SERVER_STATE_DIR` made private (`0700`, files `0600`).

mod admission;
mod agents;
mod certs;
mod config;
mod control_plane;
mod drain;
mod edge_connection;
mod edge_listener;
mod guarded_body;
mod headers;
mod host;
mod internal;
mod limits;
mod logging;
mod metrics;
mod pages;
mod plain_http;
mod proxy;
mod relay;
mod relay_out;
mod relay_tls;
mod relay_url;
mod request_actor;
mod routing;
mod session_actor;
mod sni;
mod state_dir;
mod table_certs;
mod target;

use std::{
    collections::HashMap,
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
};

use actix_web::{App, HttpServer, web};
use hopgate_transport::{Identity, Listener, ServerConfig};
use slog::{Logger, error, info};

use crate::{
    config::Config,
    proxy::AppState,
    routing::{DomainEntry, RoutingTable, hash_key},
};

#[actix_web::main]
async fn main() -> ExitCode {
    let loaded = match config::load(std::env::args_os(), &hopgate_settings::ProcessEnv) {
        Ok(loaded) => loaded,
        Err(err) => return hopgate_settings::exit_code(config::SPEC.program, &err),
    };
    if loaded.print_config {
        return match loaded.to_toml() {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(err) => hopgate_settings::exit_code(config::SPEC.program, &err),
        };
    }
    let config = loaded.value;
    let log = logging::root(config.log_level);
    match run(config, log.clone()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            error!(log, "data-plane stopped"; "error" => format!("{err:#}"));
            eprintln!("hopgate-data-plane: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config, log: Logger) -> anyhow::Result<()> {
    let domain = host::normalize(&config.domain).map_err(|e| anyhow::anyhow!("domain {e}"))?;
    let mut names = vec![domain.clone(), format!("*.{domain}")];
    names.extend(config.dev_domains.iter().map(|d| d.domain.clone()));
    if let Some(dir) = &config.state_dir {
        state_dir::prepare(dir, &log)
            .map_err(|e| anyhow::anyhow!("HOP_SERVER_STATE_DIR {}: {e}", dir.display()))?;
    }
    // Debug: a self-signed certificate agents pin. Production: the same kind of certificate
    // stands in (trusted by no one) until the control-plane's table brings the real one.
    let saved = config
        .state_dir
        .as_deref()
        .filter(|_| config.debug)
        .and_then(|dir| certs::saved_debug_certificate(dir, &names));
    let reused = saved.is_some();
    let (chain, key) = match saved {
        Some(pair) => pair,
        None => certs::self_signed(names.clone())?,
    };
    let identity = Identity::from_pem(chain.as_bytes(), key.as_bytes())?;
    let store = Arc::new(certs::CertStore::new());
    if config.debug {
        info!(log, "debug mode: self-signed certificate; agents pin its fingerprint";
            "fingerprint" => identity.fingerprint().to_string());
        if let Some(dir) = &config.state_dir {
            if !reused {
                certs::save_debug_certificate(dir, &chain, &key)?;
            }
            let path = dir.join(certs::DEBUG_CERT_FILE);
            info!(log, "debug certificate written"; "path" => path.display().to_string(),
                "reused" => reused);
        }
        for name in &names {
            store.insert(name, chain.as_bytes(), key.as_bytes())?;
        }
    } else {
        info!(
            log,
            "production mode: certificates come from the control-plane's ACME; \
                    not ready until the gateway's own certificate arrives"
        );
    }
    let udp = std::net::UdpSocket::bind(config.dtls_listen)?;
    let listener = Arc::new(Listener::bind(udp, listener_config(&config, identity))?);
    let dtls_addr = listener.local_addr();
    let table = RoutingTable::new();
    let metrics = Arc::new(metrics::Metrics::new());
    let table_status = Arc::new(control_plane::TableStatus::default());
    let relay_tcp = match config
        .relay_listen()
        .map_err(|p| anyhow::anyhow!("{}: {}", p.var, p.reason))?
    {
        Some(addr) => Some(std::net::TcpListener::bind(addr)?),
        None => None,
    };
    let relay_addr = relay_tcp
        .as_ref()
        .map(std::net::TcpListener::local_addr)
        .transpose()?;
    // The control-plane pairs this port with the address the pod reports from.
    let relay_port = config
        .relay_port
        .or_else(|| relay_addr.map(|addr| addr.port()));
    let relay_client_tls = relay_tls::client_for(&config)?;
    if config.debug {
        table_status
            .gateway_certificate
            .store(true, Ordering::Relaxed);
    }
    // Kept for the life of the process: dropping it ends the subscription.
    let subscriber = match (&config.control_plane_url, &config.internal_token) {
        (Some(url), Some(token)) => {
            let link = control_plane::Link {
                url: url.clone(),
                token: token.expose().to_owned(),
                pod_id: config.pod_id.clone().unwrap_or_else(default_pod_id),
                state_dir: config.state_dir.clone(),
                relay_port,
                relay_tls: config.relay_tls_cert.is_some(),
                ca: control_plane::trusted_ca(&config)?,
            };
            info!(log, "routing table from the control-plane";
                "control_plane" => url, "pod_id" => &link.pod_id);
            let certs = table_certs::Targets {
                store: store.clone(),
                listener: listener.clone(),
                main_domain: domain.clone(),
                status: table_status.clone(),
                debug: config.debug,
            };
            Some(control_plane::start(
                link,
                table.clone(),
                certs,
                table_status.clone(),
                metrics.clone(),
                log.clone(),
            )?)
        }
        _ => {
            let dev: HashMap<String, DomainEntry> = config
                .dev_domains
                .iter()
                .map(|d| {
                    let entry = DomainEntry {
                        key_hash: hash_key(&d.key),
                    };
                    (d.domain.clone(), entry)
                })
                .collect();
            info!(log, "fixed development routing table"; "domains" => dev.len());
            table.set_domains(dev);
            table_status.loaded.store(true, Ordering::Relaxed);
            None
        }
    };

    actix::spawn(agents::accept(
        listener.clone(),
        config.hello_timeout,
        table.clone(),
        table_status.clone(),
        metrics.clone(),
        log.clone(),
    ));

    let in_flight = Arc::new(AtomicUsize::new(0));
    let relayed = Arc::new(AtomicU64::new(0));
    let state = web::Data::new(AppState {
        table: table.clone(),
        response_timeout: config.response_timeout,
        stream_wait: config.stream_wait,
        body_timeout: config.body_timeout,
        caps: limits::RequestCaps::new(
            config.max_requests_per_domain,
            config.max_requests_per_client,
        ),
        in_flight: in_flight.clone(),
        relayed: relayed.clone(),
        metrics: metrics.clone(),
        main_domain: domain.clone(),
        log: log.clone(),
    });
    let cross_pod = subscriber.is_some();
    let relay_token = config
        .relay_token
        .as_ref()
        .map(|token| token.expose().to_owned())
        .unwrap_or_default();
    let relay = match relay_tcp {
        Some(tcp) => Some(relay_server(tcp, &config, state.clone(), &relay_token)?),
        None => None,
    };
    let edge = Arc::new(edge_listener::Edge {
        caps: admission::ConnectionCaps::new(
            config.max_connections_per_ip,
            config.max_handshakes_per_ip,
        ),
        metrics: metrics.clone(),
        limits: edge_listener::EdgeLimits {
            header_timeout: config.header_timeout,
            tls_handshake_timeout: config.tls_handshake_timeout,
            h2: config.h2_limits(),
        },
    });
    let https = std::net::TcpListener::bind(config.https_listen)?;
    let https_addr = https.local_addr()?;
    let acceptor = certs::acceptor(store, chain.as_bytes(), key.as_bytes())?.build();
    let visitors = edge_listener::https(edge.clone(), https, acceptor, move || {
        // One connection pool to the other pods per worker thread.
        let relay = relay_out::RelayClient::new(&relay_token, relay_client_tls.clone())
            .expect("an HTTP client");
        App::new()
            .app_data(state.clone())
            .app_data(web::Data::new(relay))
            .default_service(web::to(proxy::handle))
    })?;

    let http = std::net::TcpListener::bind(config.http_listen)?;
    let http_addr = http.local_addr()?;
    let challenges = web::Data::new(plain_http::Challenges(
        subscriber
            .as_ref()
            .map(hopgate_table_client::Subscriber::watch),
    ));
    let served = web::Data::new(plain_http::Served {
        table: table.clone(),
        main_domain: domain.clone(),
        metrics: metrics.clone(),
    });
    let redirect = edge_listener::plain(edge, http, 1, move || {
        App::new()
            .app_data(challenges.clone())
            .app_data(served.clone())
            .default_service(web::to(plain_http::handle))
    })?;

    let metrics_socket = std::net::TcpListener::bind(config.metrics_listen)?;
    let metrics_addr = metrics_socket.local_addr()?;
    let internal_state = web::Data::new(internal::Gauges {
        table: table.clone(),
        table_status: table_status.clone(),
        in_flight: in_flight.clone(),
        relayed,
        listener: listener.clone(),
        metrics,
    });
    let internal = HttpServer::new(move || internal::app(internal_state.clone()))
        .workers(1)
        .disable_signals()
        .listen(metrics_socket)?
        .run();
    actix::spawn(drain::on_signal(drain::Drain {
        status: table_status,
        routing: table,
        listener,
        visitors: visitors.handle(),
        redirect: redirect.handle(),
        internal: internal.handle(),
        relay: relay.as_ref().map(actix_web::dev::Server::handle),
        cross_pod,
        in_flight,
        deadline: config.drain_timeout,
        log: log.clone(),
    }));

    info!(log, "listening";
        "https" => https_addr.to_string(), "http" => http_addr.to_string(),
        "dtls" => dtls_addr.to_string(), "metrics" => metrics_addr.to_string(),
        "relay" => relay_addr.map(|a| a.to_string()), "relay_port" => relay_port,
        "relay_tls" => config.relay_tls_cert.is_some());
    let relay = async move {
        match relay {
            Some(server) => server.await,
            None => Ok(()),
        }
    };
    tokio::try_join!(visitors, redirect, internal, relay)?;
    Ok(())
}

/// The DTLS listener's limits from the settings.
fn listener_config(config: &Config, identity: Identity) -> ServerConfig {
    let mut listener = ServerConfig::new(identity);
    listener.max_handshakes = crate::config::MAX_HANDSHAKES as usize;
    listener.max_handshakes_per_ip = config.dtls_handshakes_per_ip as usize;
    listener.dtls_handshake_timeout = config.dtls_handshake_timeout;
    listener.pre_hello_receive_window = config.hello_receive_window;
    listener
}

/// The relay listener's server: HTTPS with `HOP_RELAY_TLS_CERT`/`_KEY`, and requests
/// must carry `token`.
fn relay_server(
    tcp: std::net::TcpListener,
    config: &Config,
    state: web::Data<AppState>,
    token: &str,
) -> anyhow::Result<actix_web::dev::Server> {
    let token = web::Data::new(relay::RelayToken(token.to_owned()));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(token.clone())
            .default_service(web::to(relay::handle))
    })
    .disable_signals()
    .tcp_nodelay(true);
    let server = match (&config.relay_tls_cert, &config.relay_tls_key) {
        (Some(cert), Some(key)) => server.listen_openssl(tcp, relay_tls::acceptor(cert, key)?)?,
        _ => server.listen(tcp)?,
    };
    Ok(server.run())
}

/// The pod's default name: the host name (a Kubernetes pod's name), else a random one.
fn default_pod_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| hopgate_table::valid_pod_id(name))
        .unwrap_or_else(|| format!("pod-{:08x}", rand::random::<u32>()))
}
