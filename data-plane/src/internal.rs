//! The internal listener: `/healthz`, `/readyz` and a few gauges on `/metrics` in the
//! Prometheus text format (the full metric set comes with the operability work).

use std::sync::{
    Arc,
    atomic::{AtomicU64, AtomicUsize, Ordering},
};

use actix_web::{
    App, HttpResponse,
    dev::{ServiceFactory, ServiceRequest, ServiceResponse},
    web,
};
use hopgate_transport::Listener;

use crate::{control_plane::TableStatus, routing::RoutingTable};

pub(crate) struct Gauges {
    pub(crate) table: Arc<RoutingTable>,
    pub(crate) table_status: Arc<TableStatus>,
    pub(crate) in_flight: Arc<AtomicUsize>,
    pub(crate) relayed: Arc<AtomicU64>,
    pub(crate) listener: Arc<Listener>,
}

pub(crate) fn app(
    gauges: web::Data<Gauges>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(gauges)
        .route(
            "/healthz",
            web::get().to(|| async { HttpResponse::Ok().body("ok\n") }),
        )
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics))
}

/// Ready once a routing table is loaded (pushed, or from the last snapshot on disk) and
/// the gateway has a certificate clients can verify.
async fn readyz(gauges: web::Data<Gauges>) -> HttpResponse {
    let status = &gauges.table_status;
    if status.draining.load(Ordering::Relaxed) {
        HttpResponse::ServiceUnavailable().body("draining\n")
    } else if !status.loaded.load(Ordering::Relaxed) {
        HttpResponse::ServiceUnavailable().body("no routing table yet\n")
    } else if !status.gateway_certificate.load(Ordering::Relaxed) {
        HttpResponse::ServiceUnavailable().body("no certificate for the gateway's domain yet\n")
    } else {
        HttpResponse::Ok().body("ready\n")
    }
}

async fn metrics(gauges: web::Data<Gauges>) -> HttpResponse {
    let transport = gauges.listener.stats();
    let body = format!(
        "# HELP hopgate_agent_sessions Agent sessions registered in the routing table.\n\
         # TYPE hopgate_agent_sessions gauge\n\
         hopgate_agent_sessions {}\n\
         # HELP hopgate_requests_in_flight Visitor requests with a live request actor.\n\
         # TYPE hopgate_requests_in_flight gauge\n\
         hopgate_requests_in_flight {}\n\
         # HELP hopgate_dtls_associations DTLS associations held by the listener.\n\
         # TYPE hopgate_dtls_associations gauge\n\
         hopgate_dtls_associations {}\n\
         # HELP hopgate_transport_sessions Stream-layer sessions held by the listener.\n\
         # TYPE hopgate_transport_sessions gauge\n\
         hopgate_transport_sessions {}\n\
         # HELP hopgate_table_version Version of the routing table this pod serves from.\n\
         # TYPE hopgate_table_version gauge\n\
         hopgate_table_version {}\n\
         # HELP hopgate_table_connected 1 while the control-plane's table stream is open.\n\
         # TYPE hopgate_table_connected gauge\n\
         hopgate_table_connected {}\n\
         # HELP hopgate_relayed_requests_total Visitor requests relayed to the pod holding the agent's session.\n\
         # TYPE hopgate_relayed_requests_total counter\n\
         hopgate_relayed_requests_total {}\n\
         # HELP hopgate_relay_remote_domains Domains whose agent session is on another pod (placements).\n\
         # TYPE hopgate_relay_remote_domains gauge\n\
         hopgate_relay_remote_domains {}\n",
        gauges.table.live_sessions(),
        gauges.in_flight.load(Ordering::Relaxed),
        transport.dtls_associations,
        transport.sessions,
        gauges.table_status.version.load(Ordering::Relaxed),
        u8::from(gauges.table_status.connected.load(Ordering::Relaxed)),
        gauges.relayed.load(Ordering::Relaxed),
        gauges.table.remote_domains(),
    );
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(body)
}
