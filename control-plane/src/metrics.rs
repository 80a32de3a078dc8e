//! The optional metrics listener (`HOP_METRICS_LISTEN`): `/healthz` (the process runs),
//! `/readyz` (the database answers: 200, else 503 with the reason), and a few gauges on
//! `/metrics` in the Prometheus text format, with ACME's orders and certificate expiries.

use std::{sync::Arc, time::Duration};

use actix_web::{
    App, HttpResponse,
    dev::{ServiceFactory, ServiceRequest, ServiceResponse},
    web,
};

use crate::{acme::Stats, hub::Hub, internal::Pods, store::Store};

/// How long `/readyz` waits for the database.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) struct Gauges {
    pub(crate) store: Store,
    pub(crate) hub: Arc<Hub>,
    pub(crate) pods: Arc<Pods>,
    /// ACME's counters; `None` = ACME is off.
    pub(crate) acme: Option<Arc<Stats>>,
    /// `HOP_SERVER_DOMAIN`, to label the gateway's certificate.
    pub(crate) gateway_domain: Option<String>,
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

async fn readyz(gauges: web::Data<Gauges>) -> HttpResponse {
    match tokio::time::timeout(READY_TIMEOUT, gauges.store.ping()).await {
        Ok(Ok(())) => HttpResponse::Ok().body("ready\n"),
        Ok(Err(e)) => HttpResponse::ServiceUnavailable().body(format!("{e}\n")),
        Err(_) => {
            HttpResponse::ServiceUnavailable().body("database unavailable: no answer in 2 s\n")
        }
    }
}

async fn metrics(gauges: web::Data<Gauges>) -> HttpResponse {
    let (domains, subscribers) = gauges.hub.stats();
    let (open, idle) = gauges.store.pool_stats();
    let mut body = format!(
        "# HELP hopgate_table_version Current version of the routing table.\n\
         # TYPE hopgate_table_version gauge\n\
         hopgate_table_version {}\n\
         # HELP hopgate_table_domains Registered domains in the table.\n\
         # TYPE hopgate_table_domains gauge\n\
         hopgate_table_domains {domains}\n\
         # HELP hopgate_table_subscribers Pods subscribed to the table stream.\n\
         # TYPE hopgate_table_subscribers gauge\n\
         hopgate_table_subscribers {subscribers}\n\
         # HELP hopgate_pods_reporting Pods with a fresh session report.\n\
         # TYPE hopgate_pods_reporting gauge\n\
         hopgate_pods_reporting {}\n\
         # HELP hopgate_db_connections Database connections open (idle included).\n\
         # TYPE hopgate_db_connections gauge\n\
         hopgate_db_connections {open}\n\
         # HELP hopgate_db_connections_idle Idle database connections.\n\
         # TYPE hopgate_db_connections_idle gauge\n\
         hopgate_db_connections_idle {idle}\n",
        gauges.hub.since().version,
        gauges.pods.live(),
    );
    body.push_str(&acme_metrics(&gauges));
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(body)
}

/// `hopgate_acme_orders_total{result}` and `hopgate_certificate_expiry_seconds{domain,kind}`
/// (the `not_after` of each certificate in the table, unix seconds).
fn acme_metrics(gauges: &Gauges) -> String {
    let mut out = String::new();
    if let Some(stats) = &gauges.acme {
        let (valid, failed) = stats.orders();
        out.push_str(&format!(
            "# HELP hopgate_acme_orders_total ACME orders finished, by result.\n\
             # TYPE hopgate_acme_orders_total counter\n\
             hopgate_acme_orders_total{{result=\"valid\"}} {valid}\n\
             hopgate_acme_orders_total{{result=\"failed\"}} {failed}\n"
        ));
    }
    out.push_str(
        "# HELP hopgate_certificate_expiry_seconds When each certificate expires (unix time).\n\
         # TYPE hopgate_certificate_expiry_seconds gauge\n",
    );
    let gateway = gauges.gateway_domain.as_deref().unwrap_or("");
    for (domain, not_after) in gauges.hub.certificate_expiries() {
        let (name, kind) = match &domain {
            Some(domain) => (domain.as_str(), "domain"),
            None => (gateway, "gateway"),
        };
        out.push_str(&format!(
            "hopgate_certificate_expiry_seconds{{domain=\"{name}\",kind=\"{kind}\"}} {not_after}\n"
        ));
    }
    out
}
