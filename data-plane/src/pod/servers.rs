//! The pod's HTTP servers: the visitors' HTTPS and port-80 listeners, the relay listener
//! (when cross-pod routing is on) and the operations listener, each on a socket bound
//! before the pod started; and the drain that stops them in order.

use std::{net::SocketAddr, sync::Arc};

use actix_web::{App, HttpServer, dev::Server, web};
use hopgate_table_client::Subscriber;
use hopgate_transport::Listener;
use slog::{Logger, error};

use super::{Core, RunError, certificate::Certificate};
use crate::{
    certs::{self, sessions::SessionContexts},
    config::Config,
    cross_pod::{self, client::RelayClient},
    edge::{
        self,
        admission::ConnectionCaps,
        listener::{Edge, EdgeLimits},
        plain_http,
        tunnel_tcp::TunnelIntake,
        workers::Workers,
    },
    http::limits::RequestCaps,
    listeners::Listeners,
    ops::{self, drain::Drain},
    upstream::AppState,
};

/// The sockets the HTTP servers take.
pub(super) struct Sockets {
    relay: Option<std::net::TcpListener>,
    https: std::net::TcpListener,
    http: std::net::TcpListener,
    ops: std::net::TcpListener,
}

/// The running HTTP servers and their addresses.
pub(super) struct Servers {
    visitors: Workers,
    redirect: Server,
    ops: Server,
    relay: Option<Server>,
    pub(super) https_addr: SocketAddr,
    pub(super) http_addr: SocketAddr,
    pub(super) ops_addr: SocketAddr,
}

impl Sockets {
    /// The DTLS socket, and the ones the HTTP servers take.
    pub(super) fn split(listeners: Listeners) -> (Vec<std::net::UdpSocket>, Self) {
        let Listeners {
            dtls,
            relay,
            https,
            http,
            ops,
        } = listeners;
        let sockets = Self {
            relay,
            https,
            http,
            ops,
        };
        (dtls, sockets)
    }

    /// Where the relay listener is bound, when it is on.
    pub(super) fn relay_addr(&self) -> std::io::Result<Option<SocketAddr>> {
        self.relay
            .as_ref()
            .map(std::net::TcpListener::local_addr)
            .transpose()
    }

    /// Starts every server: the relay listener first, then the visitors', then the
    /// operations listener. `relay_client_tls`: how this pod reaches the others' relay
    /// listeners; `subscriber`: the control-plane's table, for port 80's ACME answers.
    pub(super) fn serve(
        self,
        config: &Config,
        core: &Core,
        certificate: Certificate,
        relay_client_tls: Option<rustls::ClientConfig>,
        subscriber: Option<&Subscriber>,
    ) -> Result<Servers, RunError> {
        let state = web::Data::new(app_state(config, core));
        let relay_token = config
            .relay_token
            .as_ref()
            .map(|token| token.expose().to_owned())
            .unwrap_or_default();
        let relay = match self.relay {
            Some(tcp) => Some(relay_server(tcp, config, state.clone(), &relay_token)?),
            None => None,
        };
        let edge = Arc::new(edge_of(config, core));
        let https_addr = self.https.local_addr()?;
        let relays = Relays {
            token: relay_token,
            tls: relay_client_tls,
            log: core.log.clone(),
        };
        let tls = session_contexts(config, core, certificate)?;
        let workers = (config.https_worker_count(), core.dtls.clone());
        let visitors = visitors_server(edge.clone(), self.https, workers, tls, state, relays)?;
        let http_addr = self.http.local_addr()?;
        let redirect = redirect_server(edge, self.http, core, subscriber)?;
        let ops_addr = self.ops.local_addr()?;
        let ops = ops_server(self.ops, core)?;
        Ok(Servers {
            visitors,
            redirect,
            ops,
            relay,
            https_addr,
            http_addr,
            ops_addr,
        })
    }
}

impl Servers {
    /// What the drain acts on; `cross_pod`: agents move to other pods before this one goes.
    pub(super) fn drain(&self, config: &Config, core: &Core, cross_pod: bool) -> Drain {
        Drain {
            status: core.status.clone(),
            routing: core.table.clone(),
            listener: core.dtls.clone(),
            visitors: self.visitors.handle(),
            redirect: self.redirect.handle(),
            internal: self.ops.handle(),
            relay: self.relay.as_ref().map(Server::handle),
            cross_pod,
            in_flight: core.in_flight.clone(),
            deadline: config.drain_timeout,
            log: core.log.clone(),
        }
    }

    /// Runs until every server has stopped (the drain stops them), or one fails.
    pub(super) async fn join(self) -> std::io::Result<()> {
        let Self {
            visitors,
            redirect,
            ops,
            relay,
            ..
        } = self;
        let relay = async move {
            match relay {
                Some(server) => server.await,
                None => Ok(()),
            }
        };
        tokio::try_join!(visitors.join(), redirect, ops, relay)?;
        Ok(())
    }
}

/// What every request handler shares.
fn app_state(config: &Config, core: &Core) -> AppState {
    AppState {
        table: core.table.clone(),
        response_timeout: config.response_timeout,
        stream_wait: config.stream_wait,
        body_timeout: config.body_timeout,
        caps: RequestCaps::new(
            config.max_requests_per_domain,
            config.max_requests_per_client,
        ),
        in_flight: core.in_flight.clone(),
        relayed: core.relayed.clone(),
        metrics: core.metrics.clone(),
        main_domain: core.domain.clone(),
        log: core.log.clone(),
    }
}

/// What the visitors' listeners share: the per-IP caps, the metrics, the limits.
fn edge_of(config: &Config, core: &Core) -> Edge {
    Edge {
        caps: ConnectionCaps::new(config.max_connections_per_ip, config.max_handshakes_per_ip),
        metrics: core.metrics.clone(),
        limits: EdgeLimits {
            header_timeout: config.header_timeout,
            tls_handshake_timeout: config.tls_handshake_timeout,
            max_connections: config.max_connections as usize,
            h2: config.h2_limits(),
        },
        tunnel: TunnelIntake {
            acceptor: core.dtls.stream_acceptor(),
            log: core.log.clone(),
        },
    }
}

/// How the visitors' workers relay requests to other pods.
#[derive(Clone)]
struct Relays {
    /// `HOP_RELAY_TOKEN`.
    token: String,
    tls: Option<rustls::ClientConfig>,
    log: Logger,
}

impl Relays {
    /// One worker's client (one connection pool to the other pods per worker thread);
    /// `None` if it can't be built, and then the worker's cross-pod requests get 502.
    fn client(&self) -> Option<RelayClient> {
        RelayClient::new(&self.token, self.tls.clone())
            .inspect_err(|err| error!(self.log, "no HTTP client for relaying"; "error" => %err))
            .ok()
    }
}

/// The HTTPS listener's TLS context (the SNI store behind it), with its session ticket
/// keys replaced every `HOP_SERVER_TLS_TICKET_KEY_ROTATION` by a task on this thread's
/// runtime (it ends with the pod).
fn session_contexts(
    config: &Config,
    core: &Core,
    certificate: Certificate,
) -> Result<Arc<SessionContexts>, RunError> {
    let Certificate { chain, key, store } = certificate;
    let period = config.tls_ticket_key_rotation;
    let metrics = core.metrics.clone();
    let fresh = move || {
        let resumption = !period.is_zero();
        let builder = certs::acceptor(
            store.clone(),
            chain.as_bytes(),
            key.as_bytes(),
            resumption,
            metrics.clone(),
        )?;
        Ok(builder.build().into_context())
    };
    let tls =
        Arc::new(SessionContexts::new(fresh, core.metrics.clone()).map_err(RunError::Certificate)?);
    if !period.is_zero() {
        actix_web::rt::spawn(tls.clone().rotate_every(period, core.log.clone()));
    }
    Ok(tls)
}

/// The visitors' HTTPS server: TLS with the SNI store, every request to the edge's
/// handler. Worker `i` runs on the thread of the DTLS port's socket `i` where there is
/// one, so visitors and the sessions on that socket share a thread.
fn visitors_server(
    edge: Arc<Edge>,
    https: std::net::TcpListener,
    (workers, dtls): (usize, Arc<Listener>),
    tls: Arc<SessionContexts>,
    state: web::Data<AppState>,
    relays: Relays,
) -> Result<Workers, RunError> {
    let host = move |index, start| dtls.run_on_socket_thread(index, start);
    let server = edge::listener::https(edge, https, (workers, host), tls, move || {
        let app = App::new().app_data(state.clone());
        let app = match relays.client() {
            Some(relay) => app.app_data(web::Data::new(relay)),
            None => app,
        };
        app.default_service(web::to(edge::handler::handle))
    })?;
    Ok(server)
}

/// Port 80: ACME answers from the control-plane's table, redirects for the served names.
fn redirect_server(
    edge: Arc<Edge>,
    http: std::net::TcpListener,
    core: &Core,
    subscriber: Option<&Subscriber>,
) -> Result<Server, RunError> {
    let challenges = web::Data::new(plain_http::Challenges(subscriber.map(Subscriber::watch)));
    let served = web::Data::new(plain_http::Served {
        table: core.table.clone(),
        main_domain: core.domain.clone(),
        metrics: core.metrics.clone(),
    });
    let server = edge::listener::plain(edge, http, 1, move || {
        App::new()
            .app_data(challenges.clone())
            .app_data(served.clone())
            .default_service(web::to(plain_http::handle))
    })?;
    Ok(server)
}

/// The operations listener: `/metrics`, `/healthz`, `/readyz`.
fn ops_server(tcp: std::net::TcpListener, core: &Core) -> Result<Server, RunError> {
    let gauges = web::Data::new(ops::listener::Gauges {
        table: core.table.clone(),
        table_status: core.status.clone(),
        in_flight: core.in_flight.clone(),
        relayed: core.relayed.clone(),
        listener: core.dtls.clone(),
        metrics: core.metrics.clone(),
    });
    let server = HttpServer::new(move || ops::listener::app(gauges.clone()))
        .workers(1)
        .disable_signals()
        .listen(tcp)?
        .run();
    Ok(server)
}

/// The relay listener's server: HTTPS with `HOP_RELAY_TLS_CERT`/`_KEY`, and requests
/// must carry `token`.
fn relay_server(
    tcp: std::net::TcpListener,
    config: &Config,
    state: web::Data<AppState>,
    token: &str,
) -> Result<Server, RunError> {
    let token = web::Data::new(cross_pod::server::RelayToken(token.to_owned()));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(token.clone())
            .default_service(web::to(cross_pod::server::handle))
    })
    .disable_signals()
    .tcp_nodelay(true);
    let server = match (&config.relay_tls_cert, &config.relay_tls_key) {
        (Some(cert), Some(key)) => {
            let acceptor = cross_pod::tls::acceptor(cert, key).map_err(RunError::RelayTls)?;
            server.listen_openssl(tcp, acceptor)?
        }
        _ => server.listen(tcp)?,
    };
    Ok(server.run())
}
