//! The live sessions of every domain, and those of a draining pod whose agents are live
//! on another pod (moved): admitted, taken out, moved and counted, with the signals that
//! tell the session report and the drain that they changed.

use super::{Admitted, PoolFull, RoutingTable, SessionHandle, SessionSummary};

impl RoutingTable {
    /// Takes the domain's sessions out of the table (its key was rotated).
    pub(crate) fn take(&self, domain: &str) -> Vec<SessionHandle> {
        let Some((_, taken)) = self.sessions.remove(domain) else {
            return Vec::new();
        };
        self.sessions_moved();
        taken.iter().cloned().collect()
    }

    /// Every live session (for a drain).
    pub(crate) fn all_sessions(&self) -> Vec<SessionHandle> {
        self.sessions
            .iter()
            .flat_map(|e| e.value().iter().cloned().collect::<Vec<_>>())
            .collect()
    }

    /// Every live session, as reported (sorted by domain, then id).
    pub(crate) fn summaries(&self) -> Vec<SessionSummary> {
        let mut all: Vec<SessionSummary> = self
            .sessions
            .iter()
            .flat_map(|e| {
                e.value()
                    .iter()
                    .map(|s| SessionSummary {
                        domain: s.domain.clone(),
                        id: s.id,
                        pooled: s.pooled,
                        since: s.since,
                        in_flight: s.load.get(),
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        all.sort_by(|a, b| (&a.domain, a.id).cmp(&(&b.domain, b.id)));
        all
    }

    /// The domains with a live session, sorted.
    pub(crate) fn live_domains(&self) -> Vec<String> {
        let mut domains: Vec<String> = self.sessions.iter().map(|e| e.key().clone()).collect();
        domains.sort_unstable();
        domains
    }

    /// Resolves after the set of live sessions changed (at least once since the last call).
    pub(crate) async fn sessions_changed(&self) {
        self.changed.notified().await;
    }

    /// Changes whenever a session comes, goes or moves, or other pods' placements change.
    pub(crate) fn placements(&self) -> tokio::sync::watch::Receiver<u64> {
        self.placements.subscribe()
    }

    /// The live sessions changed: tells the session report and the placement watchers.
    fn sessions_moved(&self) {
        self.changed.notify_one();
        self.placements_moved();
    }

    pub(super) fn placements_moved(&self) {
        self.placements.send_modify(|version| *version += 1);
    }

    /// The agent of `domain`'s session `id` is live on another pod: visitors here go there
    /// from now on, relayed requests still use this session (see the module docs).
    pub(crate) fn mark_moved(&self, domain: &str, id: u64) {
        let Some(handle) = self.remove_session(domain, id) else {
            return;
        };
        self.moved
            .entry(domain.to_owned())
            .or_default()
            .push(handle);
        self.sessions_moved();
    }

    /// Admits `handle` among the domain's sessions (see [`crate::tunnel::pool`]): the
    /// sessions it replaces are returned, or the pool is full (`cap` sessions).
    pub(crate) fn register(
        &self,
        domain: &str,
        handle: SessionHandle,
        cap: usize,
    ) -> Result<Admitted, PoolFull> {
        let admitted = self
            .sessions
            .entry(domain.to_owned())
            .or_default()
            .admit(handle, cap);
        // A refusal may leave an empty entry behind: no session, no entry.
        self.sessions
            .remove_if(domain, |_, sessions| sessions.is_empty());
        if admitted.is_ok() {
            self.sessions_moved();
        }
        admitted
    }

    /// The domain's live session `id`, if it is one.
    pub(crate) fn session(&self, domain: &str, id: u64) -> Option<SessionHandle> {
        let sessions = self.sessions.get(domain)?;
        sessions.iter().find(|s| s.id == id).cloned()
    }

    /// Removes the domain's session `id`, wherever it is.
    pub(crate) fn deregister(&self, domain: &str, id: u64) {
        if let Some(mut moved) = self.moved.get_mut(domain) {
            moved.remove(id);
        }
        self.moved
            .remove_if(domain, |_, sessions| sessions.is_empty());
        if self.remove_session(domain, id).is_some() {
            self.sessions_moved();
        }
    }

    /// Takes session `id` out of the live sessions (dropping the domain's entry with its
    /// last session).
    fn remove_session(&self, domain: &str, id: u64) -> Option<SessionHandle> {
        let removed = self.sessions.get_mut(domain)?.remove(id);
        self.sessions
            .remove_if(domain, |_, sessions| sessions.is_empty());
        removed
    }

    /// Live sessions, every domain's.
    pub(crate) fn live_sessions(&self) -> usize {
        self.sessions.iter().map(|e| e.value().len()).sum()
    }

    /// Live sessions that joined a pool.
    pub(crate) fn pooled_sessions(&self) -> usize {
        self.sessions
            .iter()
            .map(|e| e.value().iter().filter(|s| s.pooled).count())
            .sum()
    }
}
