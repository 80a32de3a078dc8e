//! The pod's link to the control-plane: the routing table it pushes (domains, key hashes
//! and access policies, kept on disk so the pod serves from its last copy while the control-plane is
//! away), and the report of which domains have a live agent session here.
//!
//! Each table change rebuilds the routing table's domain map (swapped whole, so requests
//! never wait) and closes the sessions of domains that were unregistered or whose key was
//! rotated: their agents find out at their next hello.
//!
//! The pod also asks for session placements (which other pods hold a session for which
//! domain, with their relay URLs) and keeps the routing table's remote map in step with
//! them, for cross-pod routing. Its own report states only its relay listener's port and
//! whether it speaks TLS: the control-plane builds the relay URL from the address the
//! report comes from. With `HOP_CONTROL_PLANE_CA`, both the stream and the reports trust
//! that CA alone.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::Context;
use hopgate_table::{
    ChangeKind, Placement, PodSessions, REPORT_INTERVAL, ReportedSession, SessionReport, Table,
};
use hopgate_table_client::{Event, Subscriber, SubscriberConfig, report_sessions};
use slog::{Logger, info, warn};

use crate::{
    config::Config,
    ops::metrics::Metrics,
    table::certs,
    tunnel::{
        routing::{DomainEntry, RelayTargets, RoutingTable},
        session_actor::Revoked,
    },
};

/// Where the pod stands with the control-plane, for `/readyz` and `/metrics`.
#[derive(Default)]
pub(crate) struct TableStatus {
    /// A table is loaded (pushed, or read from the snapshot file).
    pub(crate) loaded: AtomicBool,
    /// The subscription stream is open right now.
    pub(crate) connected: AtomicBool,
    /// The table's version.
    pub(crate) version: AtomicU64,
    /// The gateway presents a certificate agents and visitors can verify (always, in debug
    /// mode; in production once the control-plane's ACME issued it).
    pub(crate) gateway_certificate: AtomicBool,
    /// Shutting down: not ready, new agent sessions refused.
    pub(crate) draining: AtomicBool,
    /// The pod knows which other pods hold which domains' sessions: the control-plane's
    /// first placements arrived, or [`Link::placement_wait`] passed without them (the
    /// control-plane is away: the pod serves from its snapshot), or there is no
    /// control-plane. A pod restarted from its snapshot is not ready before that, so a
    /// load balancer sends it no visitor it would answer "agent offline".
    pub(crate) placements_known: AtomicBool,
}

/// How to reach the control-plane.
pub(crate) struct Link {
    pub(crate) url: String,
    pub(crate) token: String,
    pub(crate) pod_id: String,
    pub(crate) state_dir: Option<std::path::PathBuf>,
    /// The port other pods reach this pod's relay listener on, if it is a relay target.
    pub(crate) relay_port: Option<u16>,
    /// The relay listener speaks HTTPS.
    pub(crate) relay_tls: bool,
    /// `HOP_CONTROL_PLANE_CA`: the only root an https:// control-plane is verified against.
    pub(crate) ca: Option<reqwest::Certificate>,
    /// `HOP_SERVER_PLACEMENT_WAIT`: how long the pod waits for the control-plane's first
    /// placements before it is ready without them.
    pub(crate) placement_wait: Duration,
}

/// `HOP_CONTROL_PLANE_CA`, read, if set.
pub(crate) fn trusted_ca(config: &Config) -> anyhow::Result<Option<reqwest::Certificate>> {
    let Some(path) = &config.control_plane_ca else {
        return Ok(None);
    };
    let pem = std::fs::read(path)
        .with_context(|| format!("HOP_CONTROL_PLANE_CA: cannot read {}", path.display()))?;
    let ca = reqwest::Certificate::from_pem(&pem).with_context(|| {
        format!(
            "HOP_CONTROL_PLANE_CA: {} is not a PEM certificate",
            path.display()
        )
    })?;
    Ok(Some(ca))
}

/// Subscribes to the table and starts the session reports. The returned subscriber must
/// be kept alive (dropping it stops the subscription).
pub(crate) fn start(
    link: Link,
    routing: Arc<RoutingTable>,
    certs: certs::Targets,
    status: Arc<TableStatus>,
    metrics: Arc<Metrics>,
    log: Logger,
) -> anyhow::Result<Subscriber> {
    let mut config = SubscriberConfig::new(&link.url, &link.token, &link.pod_id);
    if let Some(dir) = &link.state_dir {
        config = config.state_dir(dir);
    }
    if let Some(ca) = &link.ca {
        config = config.trust_only(ca.clone());
    }
    let events_log = log.clone();
    let events_status = status.clone();
    config = config.on_event(move |event| {
        on_event(&events_log, &events_status, event);
    });
    let placement_routing = routing.clone();
    let own_pod = link.pod_id.clone();
    let known = Mutex::new(BTreeMap::new());
    let placement_status = status.clone();
    config = config.on_placement(move |placement| {
        let mut known = known.lock().unwrap_or_else(PoisonError::into_inner);
        apply_placement(&mut known, placement, &own_pod, &placement_routing);
        placement_status
            .placements_known
            .store(true, Ordering::Relaxed);
    });
    let waited = status.clone();
    let placement_wait = link.placement_wait;
    actix::spawn(async move {
        tokio::time::sleep(placement_wait).await;
        waited.placements_known.store(true, Ordering::Relaxed);
    });
    let change_log = log.clone();
    let change_routing = routing.clone();
    let change_status = status.clone();
    let subscriber = Subscriber::start(config, move |table, changes| {
        let revoked = apply(&change_routing, &change_status, &change_log, table, changes);
        for _ in 0..revoked {
            metrics.session_revoked();
        }
        if let Some(committed) = table.last_commit_unix_ms() {
            metrics.table_applied(committed);
        }
        certs::apply(&certs, table, changes, &change_log);
    })?;
    actix::spawn(report_loop(link, routing, log));
    Ok(subscriber)
}

fn on_event(log: &Logger, status: &TableStatus, event: &Event) {
    match event {
        Event::Connected => {
            status.connected.store(true, Ordering::Relaxed);
            info!(log, "subscribed to the control-plane's table");
        }
        Event::Disconnected { error, retry_in } => {
            status.connected.store(false, Ordering::Relaxed);
            warn!(log, "control-plane unreachable; serving the last table";
                "error" => error, "retry_in_ms" => retry_in.as_millis() as u64);
        }
        Event::LoadedFromDisk(since) => {
            info!(log, "table loaded from the last snapshot"; "since" => since.to_string());
        }
        Event::DiskUnusable(why) => warn!(log, "snapshot file ignored"; "error" => why),
        Event::SaveFailed(why) => warn!(log, "snapshot file not written"; "error" => why),
    }
}

/// Makes `table` the routing table's domain set and closes the sessions it revokes; how
/// many it closed.
fn apply(
    routing: &RoutingTable,
    status: &TableStatus,
    log: &Logger,
    table: &Table,
    changes: &[hopgate_table::DomainChange],
) -> usize {
    let domains: HashMap<String, DomainEntry> = table
        .domains()
        .map(|record| {
            let entry = DomainEntry {
                key_hash: record.key_hash,
                access: record.access.clone().map(Arc::new),
            };
            (record.domain.clone(), entry)
        })
        .collect();
    // Sessions of removed domains come back from `set_domains`; those of rotated keys are
    // taken out here.
    let mut revoked = routing.set_domains(domains);
    for change in changes
        .iter()
        .filter(|c| matches!(c.kind, ChangeKind::KeyChanged))
    {
        revoked.extend(routing.take(&change.domain));
    }
    let count = revoked.len();
    for handle in revoked {
        let reason = match table.get(&handle.domain) {
            Some(_) => "the domain's API key was rotated",
            None => "the domain was unregistered",
        };
        info!(log, "closing a revoked agent session";
            "domain" => &handle.domain, "session_id" => handle.id, "reason" => reason);
        handle.actor.do_send(Revoked(reason));
    }
    status
        .version
        .store(table.version().unwrap_or_default(), Ordering::Relaxed);
    status.loaded.store(table.is_loaded(), Ordering::Relaxed);
    count
}

/// Updates the pods known to hold sessions and gives the routing table the new map of
/// domain → other pods' relay URLs (this pod and pods without a relay URL left out).
fn apply_placement(
    known: &mut BTreeMap<String, PodSessions>,
    placement: &Placement,
    own_pod: &str,
    routing: &RoutingTable,
) {
    if placement.replace {
        known.clear();
    }
    for pod in &placement.pods {
        if pod.domains.is_empty() {
            known.remove(&pod.pod);
        } else {
            known.insert(pod.pod.clone(), pod.clone());
        }
    }
    let mut remote: HashMap<String, Vec<Arc<str>>> = HashMap::new();
    for pod in known.values().filter(|p| p.pod != own_pod) {
        let Some(url) = &pod.relay_url else { continue };
        let url: Arc<str> = Arc::from(url.as_str());
        for domain in &pod.domains {
            remote.entry(domain.clone()).or_default().push(url.clone());
        }
    }
    routing.set_remote(
        remote
            .into_iter()
            .map(|(domain, urls)| (domain, RelayTargets::from(urls)))
            .collect(),
    );
}

/// Tells the control-plane which domains have a live session here, and the sessions
/// themselves (for the admin API): when the set of sessions changes (sent at once) and
/// every [`REPORT_INTERVAL`] regardless (with their requests in flight then).
async fn report_loop(link: Link, routing: Arc<RoutingTable>, log: Logger) {
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(5));
    if let Some(ca) = &link.ca {
        builder = builder
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca.clone());
    }
    let client = match builder.build() {
        Ok(client) => client,
        Err(err) => {
            warn!(log, "no HTTP client for session reports"; "error" => %err);
            return;
        }
    };
    let mut last: Option<Vec<(String, u64)>> = None;
    let mut last_sent = tokio::time::Instant::now();
    let mut failing = false;
    loop {
        let sessions = reported_sessions(&routing);
        let ids: Vec<(String, u64)> = sessions.iter().map(|s| (s.domain.clone(), s.id)).collect();
        let due = last.as_ref() != Some(&ids) || last_sent.elapsed() >= REPORT_INTERVAL;
        if due {
            let report = SessionReport {
                domains: routing.live_domains(),
                relay_port: link.relay_port,
                relay_tls: link.relay_tls,
                sessions,
            };
            match report_sessions(&client, &link.url, &link.token, &link.pod_id, &report).await {
                Ok(()) => {
                    failing = false;
                    last = Some(ids);
                    last_sent = tokio::time::Instant::now();
                }
                Err(err) => {
                    if !failing {
                        warn!(log, "session report not accepted"; "error" => %err);
                    }
                    failing = true;
                }
            }
        }
        tokio::select! {
            () = routing.sessions_changed() => {}
            () = tokio::time::sleep(if failing { Duration::from_secs(1) } else { REPORT_INTERVAL }) => {}
        }
    }
}

/// The live sessions as the report lists them.
fn reported_sessions(routing: &RoutingTable) -> Vec<ReportedSession> {
    routing
        .summaries()
        .into_iter()
        .map(|s| ReportedSession {
            since_unix_ms: s
                .since
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            domain: s.domain,
            id: s.id,
            pooled: s.pooled,
            in_flight: s.in_flight as u64,
        })
        .collect()
}
