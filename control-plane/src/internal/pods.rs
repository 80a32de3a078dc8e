//! Which pods hold a live agent session for which domain, as the pods report it. Kept in
//! memory only: a report is believed for [`REPORT_TTL`], so a dead pod drops out by
//! itself, and a restarted control-plane is refilled by the next reports (every 10 s).

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Mutex, PoisonError},
    time::Instant,
};

pub(crate) use hopgate_table::REPORT_TTL;

/// The most domains one report may list.
pub(crate) const MAX_REPORTED: usize = 100_000;

#[derive(Default)]
pub(crate) struct Pods {
    reports: Mutex<HashMap<String, (Instant, BTreeSet<String>)>>,
}

impl Pods {
    /// Replaces `pod`'s report.
    pub(crate) fn report(&self, pod: &str, domains: impl IntoIterator<Item = String>) {
        let now = Instant::now();
        let mut reports = self.reports.lock().unwrap_or_else(PoisonError::into_inner);
        reports.retain(|_, (at, _)| now.duration_since(*at) < REPORT_TTL);
        reports.insert(pod.to_owned(), (now, domains.into_iter().collect()));
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
            .map(|(pod, (_, domains))| (pod, domains))
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
    use std::time::Duration;

    use super::*;

    #[test]
    fn reports_map_domains_to_pods_and_expire() {
        let pods = Pods::default();
        pods.report("pod-b", ["a.test".to_owned()]);
        pods.report("pod-a", ["a.test".to_owned(), "b.test".to_owned()]);
        let map = pods.by_domain();
        assert_eq!(map["a.test"], ["pod-a", "pod-b"]);
        assert_eq!(map["b.test"], ["pod-a"]);
        pods.report("pod-a", []);
        assert!(!pods.by_domain().contains_key("b.test"));
        assert_eq!(pods.live(), 2);
        let later = Instant::now() + REPORT_TTL + Duration::from_secs(1);
        assert!(pods.by_domain_at(later).is_empty());
    }
}
