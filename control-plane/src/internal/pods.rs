//! Which pods hold a live agent session for which domain, as the pods report it. Kept in
//! memory only: a report is believed for [`REPORT_TTL`], so a dead pod drops out by
//! itself, and a restarted control-plane is refilled by the next reports (every 10 s).
//!
//! The live reports are also published as a [`watch`] of the whole placement (pod →
//! relay URL and domains), which every table stream that asked for placements turns into
//! [`hopgate_table::Placement`] frames: at once when a report changes, and when one expires
//! ([`Pods::expire_forever`] checks every second).

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

pub(crate) use hopgate_table::REPORT_TTL;
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

pub(crate) struct Pods {
    reports: Mutex<HashMap<String, (Instant, PodReport)>>,
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
    /// Replaces `pod`'s report.
    pub(crate) fn report(
        &self,
        pod: &str,
        domains: impl IntoIterator<Item = String>,
        relay_url: Option<String>,
    ) {
        let now = Instant::now();
        let mut reports = self.reports.lock().unwrap_or_else(PoisonError::into_inner);
        reports.retain(|_, (at, _)| now.duration_since(*at) < REPORT_TTL);
        let report = PodReport {
            relay_url,
            domains: Arc::new(domains.into_iter().collect()),
        };
        reports.insert(pod.to_owned(), (now, report));
        self.publish(&reports);
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
        reports.retain(|_, (at, _)| now.saturating_duration_since(*at) < REPORT_TTL);
        if reports.len() != before {
            self.publish(&reports);
        }
    }

    /// Publishes the live reports when they differ from the last published ones.
    fn publish(&self, reports: &HashMap<String, (Instant, PodReport)>) {
        let map: PlacementMap = reports
            .iter()
            .filter(|(_, (_, report))| !report.domains.is_empty())
            .map(|(pod, (_, report))| (pod.clone(), report.clone()))
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
            .filter(|(_, (at, _))| now.saturating_duration_since(*at) < REPORT_TTL)
            .map(|(pod, (_, report))| (pod, &*report.domains))
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

    /// Pods with a fresh report, for `/metrics`.
    pub(crate) fn live(&self) -> usize {
        let now = Instant::now();
        let reports = self.reports.lock().unwrap_or_else(PoisonError::into_inner);
        reports
            .values()
            .filter(|(at, _)| now.duration_since(*at) < REPORT_TTL)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_map_domains_to_pods_and_expire() {
        let pods = Pods::default();
        pods.report("pod-b", ["a.test".to_owned()], None);
        pods.report("pod-a", ["a.test".to_owned(), "b.test".to_owned()], None);
        let map = pods.by_domain();
        assert_eq!(map["a.test"], ["pod-a", "pod-b"]);
        assert_eq!(map["b.test"], ["pod-a"]);
        pods.report("pod-a", [], None);
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
        pods.report("pod-a", ["a.test".to_owned()], relay.clone());
        assert!(watch.has_changed().unwrap());
        let seen = watch.borrow_and_update().clone();
        assert_eq!(seen["pod-a"].relay_url, relay);
        // The same report again (the periodic refresh) publishes nothing.
        pods.report("pod-a", ["a.test".to_owned()], relay.clone());
        assert!(!watch.has_changed().unwrap());
        // A pod with no sessions is not in the placement.
        pods.report("pod-b", [], None);
        assert!(!watch.has_changed().unwrap());
        pods.expire_at(Instant::now() + REPORT_TTL + Duration::from_secs(1));
        assert!(watch.has_changed().unwrap());
        assert!(watch.borrow_and_update().is_empty());
    }
}
