//! The operations listener (`HOP_METRICS_LISTEN`): `/healthz`, `/readyz`, and `/metrics` (the pod's
//! [`Metrics`](crate::ops::metrics::Metrics) in the OpenMetrics text format).

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use actix_web::{
    App, HttpResponse,
    dev::{ServiceFactory, ServiceRequest, ServiceResponse},
    web,
};
use hopgate_transport::Listener;

use crate::{
    ops::{
        in_flight::InFlight,
        metrics::{self, Metrics, PoolSnapshot},
    },
    table::control_plane::TableStatus,
    tunnel::routing::RoutingTable,
};

pub(crate) struct Gauges {
    pub(crate) table: Arc<RoutingTable>,
    pub(crate) table_status: Arc<TableStatus>,
    pub(crate) in_flight: Arc<InFlight>,
    pub(crate) relayed: Arc<AtomicU64>,
    pub(crate) listener: Arc<Listener>,
    pub(crate) metrics: Arc<Metrics>,
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

/// Ready once a routing table is loaded (pushed, or from the last snapshot on disk), the
/// other pods' placements are known (or `HOP_SERVER_PLACEMENT_WAIT` passed without them)
/// and the gateway has a certificate clients can verify.
async fn readyz(gauges: web::Data<Gauges>) -> HttpResponse {
    let status = &gauges.table_status;
    if status.draining.load(Ordering::Relaxed) {
        HttpResponse::ServiceUnavailable().body("draining\n")
    } else if !status.loaded.load(Ordering::Relaxed) {
        HttpResponse::ServiceUnavailable().body("no routing table yet\n")
    } else if !status.placements_known.load(Ordering::Relaxed) {
        HttpResponse::ServiceUnavailable().body("no placements of the other pods yet\n")
    } else if !status.gateway_certificate.load(Ordering::Relaxed) {
        HttpResponse::ServiceUnavailable().body("no certificate for the gateway's domain yet\n")
    } else {
        HttpResponse::Ok().body("ready\n")
    }
}

async fn metrics(gauges: web::Data<Gauges>) -> HttpResponse {
    let now = metrics::Snapshot {
        agent_sessions: gauges.table.live_sessions(),
        in_flight: gauges.in_flight.count(),
        listener: gauges.listener.stats(),
        dtls_socket_sessions: gauges.listener.sessions_per_socket(),
        table_version: gauges.table_status.version.load(Ordering::Relaxed),
        table_connected: gauges.table_status.connected.load(Ordering::Relaxed),
        relayed_requests: gauges.relayed.load(Ordering::Relaxed),
        relay_remote_domains: gauges.table.remote_domains(),
        pools: PoolSnapshot {
            pooled_sessions: gauges.table.pooled_sessions(),
            choices: gauges.table.pool_choices(),
        },
    };
    HttpResponse::Ok()
        .content_type(metrics::CONTENT_TYPE)
        .body(gauges.metrics.encode(&now))
}
