//! The metrics of agent pools and failover: how many sessions joined a pool, how requests
//! were spread over a domain's sessions, and the requests retried on another session.
//!
//! - `hopgate_pool_sessions`: live sessions whose agent joined its domain's pool;
//! - `hopgate_pool_choices_total{choice}`: requests that had several sessions to go to,
//!   by how one was chosen (`least_outstanding`: it carried the fewest requests; `tie`:
//!   several did, and the rotation chose);
//! - `hopgate_request_retries_total{reason}`: requests tried once more on another session
//!   because theirs died (`session_lost`: no stream could be opened; `stream_broke`: a
//!   GET, HEAD or OPTIONS without a body whose stream broke before the answer's head).

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

use super::{Metrics, ReasonLabels};

/// Why a request was retried, in the order of [`PoolMetrics::retries`].
pub(crate) const RETRY_REASONS: [&str; 2] = ["session_lost", "stream_broke"];

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ChoiceLabels {
    choice: &'static str,
}

/// Pools' state, read at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PoolSnapshot {
    pub(crate) pooled_sessions: usize,
    /// Choices among several sessions: `(one was least loaded, ties)`.
    pub(crate) choices: (u64, u64),
}

pub(super) struct PoolMetrics {
    sessions: Gauge,
    /// `[least_outstanding, tie]`, copied from the routing table at scrape time.
    choices: [Counter; 2],
    /// In [`RETRY_REASONS`]' order.
    retries: [Counter; RETRY_REASONS.len()],
}

impl PoolMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let sessions = Gauge::default();
        registry.register(
            "hopgate_pool_sessions",
            "Live agent sessions whose agent joined its domain's pool (--pool)",
            sessions.clone(),
        );
        let choice_family = Family::<ChoiceLabels, Counter>::default();
        let choices = ["least_outstanding", "tie"].map(|choice| {
            choice_family
                .get_or_create(&ChoiceLabels { choice })
                .clone()
        });
        registry.register(
            "hopgate_pool_choices",
            "Requests with several sessions of their domain to go to, by how one was chosen: \
             the fewest requests outstanding, or a tie broken by rotation",
            choice_family,
        );
        let retry_family = Family::<ReasonLabels, Counter>::default();
        let retries = RETRY_REASONS
            .map(|reason| retry_family.get_or_create(&ReasonLabels { reason }).clone());
        registry.register(
            "hopgate_request_retries",
            "Requests tried once more on another session because theirs died before the \
             answer: session_lost (no stream opened), stream_broke (a GET, HEAD or OPTIONS \
             without a body)",
            retry_family,
        );
        Self {
            sessions,
            choices,
            retries,
        }
    }

    /// One request retried for `reason` (one of [`RETRY_REASONS`]).
    fn retried(&self, reason: &'static str) {
        debug_assert!(RETRY_REASONS.contains(&reason), "unlisted reason {reason}");
        if let Some(at) = RETRY_REASONS.iter().position(|r| *r == reason) {
            self.retries[at].inc();
        }
    }

    /// Sets the gauges and copied counters from `now`.
    pub(super) fn set(&self, now: PoolSnapshot) {
        self.sessions
            .set(i64::try_from(now.pooled_sessions).unwrap_or(i64::MAX));
        let store = |counter: &Counter, value: u64| {
            counter
                .inner()
                .store(value, std::sync::atomic::Ordering::Relaxed);
        };
        store(&self.choices[0], now.choices.0);
        store(&self.choices[1], now.choices.1);
    }
}

impl Metrics {
    /// A request tried once more on another session, for `reason`.
    pub(crate) fn request_retried(&self, reason: &'static str) {
        self.pools.retried(reason);
    }
}
