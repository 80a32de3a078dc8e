//! The optional metrics listener (`HOP_METRICS_LISTEN`): `/healthz` (the process runs),
//! `/readyz` (the database answers: 200, else 503 with the reason), and `/metrics`: the
//! control-plane's [`Metrics`] (prometheus-client, OpenMetrics text).
//!
//! Counters are counted where things happen (admin calls by [`count_admin_call`], ACME
//! orders in [`crate::acme::Stats`]); gauges of state owned elsewhere (the table, the pool,
//! certificates) are read at scrape time.

use std::{sync::Arc, time::Duration};

use actix_web::{
    App, HttpResponse,
    body::MessageBody,
    dev::{ServiceFactory, ServiceRequest, ServiceResponse},
    middleware::Next,
    web,
};
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::{Registry, Unit},
};

use crate::{acme::Stats, hub::Hub, internal::Pods, store::Store};

/// How long `/readyz` waits for the database.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// `Content-Type` of the exposition.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct AdminLabels {
    /// The route's pattern (`/api/v1/admin/domains/{domain}`), never the raw path.
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// Why a pod's session report is refused (`hopgate_pod_reports_refused_total`).
pub(crate) const REPORT_REFUSALS: &[&str] = &[
    // The pod id's live report came from another address (409).
    "address_changed",
];

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CertificateLabels {
    domain: String,
    kind: &'static str,
}

/// Every metric of the control-plane. One per process.
pub(crate) struct Metrics {
    registry: Registry,
    admin_requests: Family<AdminLabels, Counter>,
    reports_refused: Family<ReasonLabels, Counter>,
    table_version: Gauge,
    table_domains: Gauge,
    table_subscribers: Gauge,
    pods_reporting: Gauge,
    db_connections: Gauge,
    db_connections_idle: Gauge,
    db_pool: Family<StateLabels, Gauge>,
    certificate_expiry: Family<CertificateLabels, Gauge>,
}

impl Metrics {
    /// The registry, with ACME's order counters from `acme`.
    pub(crate) fn new(acme: &Stats) -> Self {
        let mut registry = Registry::default();
        let admin_requests = Family::<AdminLabels, Counter>::default();
        registry.register(
            "hopgate_admin_requests",
            "Admin API calls, by route pattern, method and status",
            admin_requests.clone(),
        );
        let reports_refused = Family::<ReasonLabels, Counter>::default();
        for reason in REPORT_REFUSALS {
            let _ = reports_refused.get_or_create(&ReasonLabels { reason });
        }
        registry.register(
            "hopgate_pod_reports_refused",
            "Pods' session reports refused, by reason",
            reports_refused.clone(),
        );
        // The ACME worker counts into this family's counters.
        registry.register(
            "hopgate_acme_orders",
            "ACME orders finished, by result (valid, failed)",
            acme.family.clone(),
        );
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let gauge = Gauge::default();
            registry.register(name, help, gauge.clone());
            gauge
        };
        let table_version = gauge(
            &mut registry,
            "hopgate_table_version",
            "Current version of the routing table",
        );
        let table_domains = gauge(
            &mut registry,
            "hopgate_table_domains",
            "Registered domains in the table",
        );
        let table_subscribers = gauge(
            &mut registry,
            "hopgate_table_subscribers",
            "Pods subscribed to the table stream",
        );
        let pods_reporting = gauge(
            &mut registry,
            "hopgate_pods_reporting",
            "Pods with a fresh session report (connected pods)",
        );
        let db_connections = gauge(
            &mut registry,
            "hopgate_db_connections",
            "Database connections open (idle included)",
        );
        let db_connections_idle = gauge(
            &mut registry,
            "hopgate_db_connections_idle",
            "Idle database connections",
        );
        let db_pool = Family::<StateLabels, Gauge>::default();
        registry.register(
            "hopgate_db_pool_connections",
            "The database pool: connections open, idle, and the most it opens (max)",
            db_pool.clone(),
        );
        let certificate_expiry = Family::<CertificateLabels, Gauge>::default();
        registry.register_with_unit(
            "hopgate_certificate_expiry",
            "When each certificate in the table expires (notAfter, unix time)",
            Unit::Seconds,
            certificate_expiry.clone(),
        );
        Self {
            registry,
            admin_requests,
            reports_refused,
            table_version,
            table_domains,
            table_subscribers,
            pods_reporting,
            db_connections,
            db_connections_idle,
            db_pool,
            certificate_expiry,
        }
    }
}

impl Metrics {
    /// Counts a refused session report; `reason` is one of [`REPORT_REFUSALS`].
    pub(crate) fn report_refused(&self, reason: &'static str) {
        debug_assert!(REPORT_REFUSALS.contains(&reason), "{reason}");
        self.reports_refused
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }
}

/// What `/metrics` reads at scrape time, and the metrics themselves.
pub(crate) struct Gauges {
    pub(crate) store: Store,
    pub(crate) hub: Arc<Hub>,
    pub(crate) pods: Arc<Pods>,
    pub(crate) metrics: Arc<Metrics>,
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
    let m = &gauges.metrics;
    let set = |gauge: &Gauge, value: u64| {
        gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
    };
    let (domains, subscribers) = gauges.hub.stats();
    let (open, idle, max) = gauges.store.pool_stats();
    set(&m.table_version, gauges.hub.since().version);
    set(&m.table_domains, domains as u64);
    set(&m.table_subscribers, subscribers as u64);
    set(&m.pods_reporting, gauges.pods.live() as u64);
    set(&m.db_connections, u64::from(open));
    set(&m.db_connections_idle, idle as u64);
    for (state, value) in [
        ("open", u64::from(open)),
        ("idle", idle as u64),
        ("max", u64::from(max)),
    ] {
        set(&m.db_pool.get_or_create(&StateLabels { state }), value);
    }
    // Rebuilt each scrape: unregistered domains drop out.
    m.certificate_expiry.clear();
    let gateway = gauges.gateway_domain.as_deref().unwrap_or("");
    for (domain, not_after) in gauges.hub.certificate_expiries() {
        let labels = match domain {
            Some(domain) => CertificateLabels {
                domain,
                kind: "domain",
            },
            None => CertificateLabels {
                domain: gateway.to_owned(),
                kind: "gateway",
            },
        };
        m.certificate_expiry.get_or_create(&labels).set(not_after);
    }
    let mut body = String::new();
    // Writing to a String can't fail.
    let _ = encode(&mut body, &m.registry);
    HttpResponse::Ok().content_type(CONTENT_TYPE).body(body)
}

/// Middleware for the admin API: counts every call by route pattern, method and status
/// (`hopgate_admin_requests_total`); a path no route matches is `route="unmatched"`.
pub(crate) async fn count_admin_call(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = match req.method().as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "HEAD" => "HEAD",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        _ => "other",
    };
    let result = next.call(req).await;
    if let Some(metrics) = metrics {
        let status = match &result {
            Ok(response) => response.status().as_u16(),
            Err(err) => err.as_response_error().status_code().as_u16(),
        };
        let labels = AdminLabels {
            route,
            method,
            status,
        };
        metrics.admin_requests.get_or_create(&labels).inc();
    }
    result
}
