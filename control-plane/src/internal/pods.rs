//! Which pods hold a live agent session for which domain, as the pods report it. Kept in
//! memory only: a report is believed for [`REPORT_TTL`], so a dead pod drops out by
//! itself, and a restarted control-plane is refilled by the next reports (every 10 s).
//!
//! A pod id belongs to the address that first reported it until its reports expire: a
//! report for it from another address is refused ([`AddressChanged`]), so a holder of the
//! internal token can't take over a live pod's id. The relay URL is built here from that
//! address ([`relay_url`]), never taken from a report.
//!
//! Each report also lists the pod's sessions one by one (a domain served by a pool has
//! several); they are kept beside the report, outside the placement, so that their
//! changing request counts never move the placement ([`Pods::sessions_by_domain`], for the
//! admin API).
//!
//! The live reports are also published as a [`watch`] of the whole placement (pod →
//! relay URL and domains), which every table stream that asked for placements turns into
//! [`hopgate_table::Placement`] frames: at once when a report changes, and when one expires
//! ([`Pods::expire_forever`] checks every second).

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

pub(crate) use hopgate_table::REPORT_TTL;
use hopgate_table::ReportedSession;
use tokio::sync::watch;

/// The most domains one report may list.
pub(crate) const MAX_REPORTED: usize = 100_000;

/// What one pod's live report says (shared by every stream's copy of the placement).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PodReport {
    pub(crate) relay_url: Option<String>,
    pub(crate) domains: Arc<BTreeSet<String>>,
}

/// Pod → its live report: what the table streams send.
pub(crate) type PlacementMap = BTreeMap<String, PodReport>;

/// A pod's last report: when, from which address, and what it said.
struct Live {
    at: Instant,
    source: IpAddr,
    report: PodReport,
    sessions: Vec<ReportedSession>,
}

/// One live session as the admin API lists it: the pod's report of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PodSession {
    pub(crate) pod: String,
    pub(crate) session: ReportedSession,
}

/// A report for a pod id whose live report came from another address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this pod id reports from another address; it is free once that pod's report expires")]
pub(crate) struct AddressChanged;

/// Where other pods reach the relay listener of a pod that reported from `source`.
pub(crate) fn relay_url(source: IpAddr, port: u16, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    format!(
        "{scheme}://{}",
        SocketAddr::new(source.to_canonical(), port)
    )
}

pub(crate) struct Pods {
    reports: Mutex<HashMap<String, Live>>,
    placement: watch::Sender<Arc<PlacementMap>>,
}

impl Default for Pods {
    fn default() -> Self {
        Self {
            reports: Mutex::default(),
            placement: watch::Sender::new(Arc::default()),
        }
    }
}

impl Pods {
    /// Replaces `pod`'s report, unless a live report for `pod` came from another address.
    #[cfg(test)]
    pub(crate) fn report(
        &self,
        pod: &str,
        source: IpAddr,
        domains: impl IntoIterator<Item = String>,
        relay_url: Option<String>,
    ) -> Result<(), AddressChanged> {
        self.report_sessions(pod, source, domains, relay_url, Vec::new())
    }

    /// Replaces `pod`'s report with its domains and its sessions one by one, unless a live
    /// report for `pod` came from another address.
    pub(crate) fn report_sessions(
        &self,
        pod: &str,
        source: IpAddr,
        domains: impl IntoIterator<Item = String>,
        relay_url: Option<String>,
        sessions: Vec<ReportedSession>,
    ) -> Result<(), AddressChanged> {
        let now = Instant::now();
        let source = source.to_canonical();
        let mut reports = self.reports.lock().unwrap_or_else(PoisonError::into_inner);
        reports.retain(|_, live| now.duration_since(live.at) < REPORT_TTL);
        if reports.get(pod).is_some_and(|live| live.source != source) {
            return Err(AddressChanged);
        }
        let report = PodReport {
            relay_url,
            domains: Arc::new(domains.into_iter().collect()),
        };
        let live = Live {
            at: now,
            source,
            report,
            sessions,
        };
        reports.insert(pod.to_owned(), live);
        self.publish(&reports);
        Ok(())
    }

    /// Drops expired reports (and tells the streams) every second, for ever.
    pub(crate) async fn expire_forever(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            self.expire_at(Instant::now());
        }
    }

    fn expire_at(&self, now: Instant) {
        let mut reports = self.reports.lock().unwrap_or_else(PoisonError::into_inner);
        let before = reports.len();
        reports.retain(|_, live| now.saturating_duration_since(live.at) < REPORT_TTL);
        if reports.len() != before {
            self.publish(&reports);
        }
    }

    /// Publishes the live reports when they differ from the last published ones.
    fn publish(&self, reports: &HashMap<String, Live>) {
        let map: PlacementMap = reports
            .iter()
            .filter(|(_, live)| !live.report.domains.is_empty())
            .map(|(pod, live)| (pod.clone(), live.report.clone()))
            .collect();
        self.placement.send_if_modified(|current| {
            if **current == map {
                return false;
            }
            *current = Arc::new(map);
            true
        });
    }

    /// The placement as published (for the table streams).
    pub(crate) fn watch(&self) -> watch::Receiver<Arc<PlacementMap>> {
        self.placement.subscribe()
    }

    /// Domain → pods with a fresh report naming it (sorted).
    pub(crate) fn by_domain(&self) -> HashMap<String, Vec<String>> {
        self.by_domain_at(Instant::now())
    }

    fn by_domain_at(&self, now: Instant) -> HashMap<String, Vec<String>> {
        let reports = self.reports.lock().unwrap_or_else(PoisonError::into_inner);
        let mut pods: Vec<(&String, &BTreeSet<String>)> = reports
            .iter()
            .filter(|(_, live)| now.saturating_duration_since(live.at) < REPORT_TTL)
            .map(|(pod, live)| (pod, &*live.report.domains))
            .collect();
        pods.sort();
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        for (pod, domains) in pods {
            for domain in domains {
                out.entry(domain.clone()).or_default().push(pod.clone());
            }
        }
        out
    }

    /// Domain → its live sessions on every pod with a fresh report (by pod, then id).
    pub(crate) fn sessions_by_domain(&self) -> HashMap<String, Vec<PodSession>> {
        let now = Instant::now();
        let reports = self.reports.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out: HashMap<String, Vec<PodSession>> = HashMap::new();
        for (pod, live) in reports.iter() {
            if now.saturating_duration_since(live.at) >= REPORT_TTL {
                continue;
            }
            for session in &live.sessions {
                out.entry(session.domain.clone())
                    .or_default()
                    .push(PodSession {
                        pod: pod.clone(),
                        session: session.clone(),
                    });
            }
        }
        for sessions in out.values_mut() {
            sessions.sort_by(|a, b| (&a.pod, a.session.id).cmp(&(&b.pod, b.session.id)));
        }
        out
    }

    /// Pods with a fresh report, for `/metrics`.
    pub(crate) fn live(&self) -> usize {
        let now = Instant::now();
        let reports = self.reports.lock().unwrap_or_else(PoisonError::into_inner);
        reports
            .values()
            .filter(|live| now.duration_since(live.at) < REPORT_TTL)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POD_A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const POD_B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn a_pod_id_belongs_to_its_address_until_its_report_expires() {
        let pods = Pods::default();
        pods.report("pod-a", POD_A, ["a.test".to_owned()], None)
            .unwrap();
        let taken = pods.report("pod-a", POD_B, ["b.test".to_owned()], None);
        assert_eq!(taken, Err(AddressChanged));
        assert_eq!(pods.by_domain()["a.test"], ["pod-a"]);
        assert!(!pods.by_domain().contains_key("b.test"));
        // The same address as IPv4-mapped IPv6 (a dual-stack listener) is the same pod.
        let mapped = IpAddr::V6(std::net::Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped());
        pods.report("pod-a", mapped, ["a.test".to_owned()], None)
            .unwrap();
        pods.expire_at(Instant::now() + REPORT_TTL + Duration::from_secs(1));
        pods.report("pod-a", POD_B, ["b.test".to_owned()], None)
            .unwrap();
    }

    #[test]
    fn sessions_are_listed_by_domain_and_leave_the_placement_alone() {
        let pods = Pods::default();
        let mut watch = pods.watch();
        let session = |id, in_flight| ReportedSession {
            domain: "a.test".into(),
            id,
            pooled: true,
            since_unix_ms: 1,
            in_flight,
        };
        let domains = || ["a.test".to_owned()];
        pods.report_sessions("pod-b", POD_B, domains(), None, vec![session(4, 0)])
            .unwrap();
        pods.report_sessions(
            "pod-a",
            POD_A,
            domains(),
            None,
            vec![session(2, 1), session(1, 0)],
        )
        .unwrap();
        let listed: Vec<(String, u64)> = pods.sessions_by_domain()["a.test"]
            .iter()
            .map(|s| (s.pod.clone(), s.session.id))
            .collect();
        assert_eq!(
            listed,
            [
                ("pod-a".into(), 1),
                ("pod-a".into(), 2),
                ("pod-b".into(), 4)
            ]
        );
        watch.borrow_and_update();
        // Only the request counts changed: no new placement.
        pods.report_sessions(
            "pod-a",
            POD_A,
            domains(),
            None,
            vec![session(2, 7), session(1, 3)],
        )
        .unwrap();
        assert!(!watch.has_changed().unwrap());
        assert_eq!(pods.sessions_by_domain()["a.test"][1].session.in_flight, 7);
    }

    #[test]
    fn relay_urls_are_built_from_the_source_address() {
        assert_eq!(relay_url(POD_A, 8444, false), "http://10.0.0.1:8444");
        assert_eq!(relay_url(POD_A, 8444, true), "https://10.0.0.1:8444");
        let v6: IpAddr = "fd00::7".parse().unwrap();
        assert_eq!(relay_url(v6, 8444, true), "https://[fd00::7]:8444");
    }

    #[test]
    fn reports_map_domains_to_pods_and_expire() {
        let pods = Pods::default();
        pods.report("pod-b", POD_B, ["a.test".to_owned()], None)
            .unwrap();
        pods.report(
            "pod-a",
            POD_A,
            ["a.test".to_owned(), "b.test".to_owned()],
            None,
        )
        .unwrap();
        let map = pods.by_domain();
        assert_eq!(map["a.test"], ["pod-a", "pod-b"]);
        assert_eq!(map["b.test"], ["pod-a"]);
        pods.report("pod-a", POD_A, [], None).unwrap();
        assert!(!pods.by_domain().contains_key("b.test"));
        assert_eq!(pods.live(), 2);
        let later = Instant::now() + REPORT_TTL + Duration::from_secs(1);
        assert!(pods.by_domain_at(later).is_empty());
    }

    #[test]
    fn the_placement_changes_with_reports_and_expiry_only() {
        let pods = Pods::default();
        let mut watch = pods.watch();
        let relay = Some("http://10.0.0.1:8444".to_owned());
        pods.report("pod-a", POD_A, ["a.test".to_owned()], relay.clone())
            .unwrap();
        assert!(watch.has_changed().unwrap());
        let seen = watch.borrow_and_update().clone();
        assert_eq!(seen["pod-a"].relay_url, relay);
        // The same report again (the periodic refresh) publishes nothing.
        pods.report("pod-a", POD_A, ["a.test".to_owned()], relay.clone())
            .unwrap();
        assert!(!watch.has_changed().unwrap());
        // A pod with no sessions is not in the placement.
        pods.report("pod-b", POD_B, [], None).unwrap();
        assert!(!watch.has_changed().unwrap());
        pods.expire_at(Instant::now() + REPORT_TTL + Duration::from_secs(1));
        assert!(watch.has_changed().unwrap());
        assert!(watch.borrow_and_update().is_empty());
    }
}
