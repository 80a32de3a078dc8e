//! The routing table: which domains exist (with their key hashes and access policies),
//! which live sessions serve each (one, or a pool: `pool`), and which other pods hold a
//! session for a domain (cross-pod routing, from the control-plane's placements). Read on
//! every request without a global lock: the domain and remote maps are swapped whole on
//! change, live sessions sit in a sharded concurrent map whose shard lock is held only to
//! pick a session, never across an await. Local sessions always win over remote ones: a
//! request goes to the least loaded session here, and to another pod only when this pod
//! has none.
//!
//! While the pod drains, a session whose agent has already connected to another pod is
//! *moved*: this pod's visitors are relayed to the new pod, but requests other pods relay
//! here still use the old session (it stays open until the pod exits) and it is no longer
//! reported.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
};

use arc_swap::ArcSwap;
use dashmap::DashMap;
use hopgate_protocol::HelloCode;
use hopgate_table::access::AccessPolicy;
use subtle::ConstantTimeEq;

use crate::tunnel::pool::Sessions;
pub(crate) use crate::tunnel::pool::{Admitted, Picked, PoolFull, SessionHandle};

/// A domain the gateway serves.
#[derive(Debug, Clone)]
pub(crate) struct DomainEntry {
    /// SHA-256 of the domain's client API key (keys are 256-bit random, so a fast hash fits).
    pub(crate) key_hash: [u8; 32],
    /// Who may reach the domain; `None`: everyone.
    pub(crate) access: Option<Arc<AccessPolicy>>,
}

/// What a request finds for its host.
pub(crate) enum Route {
    /// Nobody registered this domain.
    Unknown,
    /// Registered, but no agent is connected.
    Offline,
    /// Forward through this session (the least loaded of the domain's here).
    Live(Picked),
    /// No session here; relay to one of these pods (relay URLs, in a stable order).
    Remote(RelayTargets),
}

/// Relay URLs of the other pods holding a domain's session.
pub(crate) type RelayTargets = Arc<[Arc<str>]>;

/// One live session as the session report and the admin API show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionSummary {
    pub(crate) domain: String,
    pub(crate) id: u64,
    pub(crate) pooled: bool,
    pub(crate) since: std::time::SystemTime,
    pub(crate) in_flight: usize,
}

#[derive(Default)]
pub(crate) struct RoutingTable {
    domains: ArcSwap<HashMap<String, DomainEntry>>,
    sessions: DashMap<String, Sessions>,
    /// Sessions of a draining pod whose agents are live on another pod.
    moved: DashMap<String, Sessions>,
    /// Domain → other pods holding its session (from the control-plane's placements).
    remote: ArcSwap<HashMap<String, RelayTargets>>,
    /// Signalled whenever the set of live sessions changes (for the session report).
    changed: tokio::sync::Notify,
    /// Bumped whenever a session comes, goes or moves, or the other pods' placements
    /// change (for the drain, which waits for agents to move).
    placements: tokio::sync::watch::Sender<u64>,
    /// Advanced by every choice among several sessions: where the next scan starts.
    turn: AtomicUsize,
    /// Choices among several sessions: `[one was least loaded, a tie the rotation broke]`.
    choices: [AtomicU64; 2],
}

/// The key hash the table stores and the control-plane computes (one definition).
pub(crate) use hopgate_table::hash_key;

impl RoutingTable {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Replaces the domain table; sessions of domains no longer present are returned so
    /// the caller can drop them.
    pub(crate) fn set_domains(&self, domains: HashMap<String, DomainEntry>) -> Vec<SessionHandle> {
        self.domains.store(Arc::new(domains));
        let domains = self.domains.load();
        let stale: Vec<String> = self
            .sessions
            .iter()
            .filter(|entry| !domains.contains_key(entry.key()))
            .map(|entry| entry.key().clone())
            .collect();
        stale.iter().flat_map(|d| self.take(d)).collect()
    }

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

    fn placements_moved(&self) {
        self.placements.send_modify(|version| *version += 1);
    }

    /// Checks an agent's hello: the domain exists and the key's hash matches, compared in
    /// constant time.
    pub(crate) fn verify(&self, domain: &str, key: &str) -> Result<(), HelloCode> {
        let domains = self.domains.load();
        let entry = domains.get(domain).ok_or(HelloCode::UnknownDomain)?;
        if bool::from(hash_key(key).ct_eq(&entry.key_hash)) {
            Ok(())
        } else {
            Err(HelloCode::BadKey)
        }
    }

    /// The access policy of `host`, if it is a domain of the table and has one.
    pub(crate) fn access(&self, host: &str) -> Option<Arc<AccessPolicy>> {
        self.domains.load().get(host)?.access.clone()
    }

    /// Whether `host` is a domain of the table (served, whether or not its agent is live).
    pub(crate) fn is_registered(&self, host: &str) -> bool {
        self.domains.load().contains_key(host)
    }

    /// The least loaded of `host`'s sessions in `map`, but `except`.
    fn pick(
        &self,
        map: &DashMap<String, Sessions>,
        host: &str,
        except: Option<u64>,
    ) -> Option<Picked> {
        let sessions = map.get(host)?;
        if sessions.len() < 2 {
            return sessions.pick(0, except);
        }
        let turn = self.turn.fetch_add(1, Ordering::Relaxed);
        let picked = sessions.pick(turn, except)?;
        self.choices[usize::from(picked.tie)].fetch_add(1, Ordering::Relaxed);
        Some(picked)
    }

    /// Where a visitor's request for `host` goes: a local session, else another pod.
    pub(crate) fn route(&self, host: &str) -> Route {
        self.route_except(host, None)
    }

    /// [`RoutingTable::route`], avoiding session `except` (it just failed the request).
    pub(crate) fn route_except(&self, host: &str, except: Option<u64>) -> Route {
        if let Some(picked) = self.pick(&self.sessions, host, except) {
            return Route::Live(picked);
        }
        if !self.domains.load().contains_key(host) {
            return Route::Unknown;
        }
        if let Some(targets) = self.remote.load().get(host) {
            return Route::Remote(targets.clone());
        }
        match self.pick(&self.moved, host, except) {
            Some(picked) => Route::Live(picked),
            None => Route::Offline,
        }
    }

    /// Where a request another pod relayed here goes: local sessions only (one hop).
    pub(crate) fn route_relayed(&self, host: &str) -> Route {
        self.route_relayed_except(host, None)
    }

    /// [`RoutingTable::route_relayed`], avoiding session `except`.
    pub(crate) fn route_relayed_except(&self, host: &str, except: Option<u64>) -> Route {
        let local = self.pick(&self.sessions, host, except);
        if let Some(picked) = local.or_else(|| self.pick(&self.moved, host, except)) {
            return Route::Live(picked);
        }
        if self.domains.load().contains_key(host) {
            Route::Offline
        } else {
            Route::Unknown
        }
    }

    /// Replaces the map of domains with a session on other pods.
    pub(crate) fn set_remote(&self, remote: HashMap<String, RelayTargets>) {
        self.remote.store(Arc::new(remote));
        self.placements_moved();
    }

    /// How many domains have their session on another pod only as far as this pod knows
    /// (for `/metrics`).
    pub(crate) fn remote_domains(&self) -> usize {
        self.remote.load().len()
    }

    /// Whether another pod holds a session for `domain`.
    pub(crate) fn is_remote(&self, domain: &str) -> bool {
        self.remote.load().contains_key(domain)
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

    /// Choices among several sessions so far: `(one was least loaded, ties)`.
    pub(crate) fn pool_choices(&self) -> (u64, u64) {
        (
            self.choices[0].load(Ordering::Relaxed),
            self.choices[1].load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Arc<RoutingTable> {
        let table = RoutingTable::new();
        let mut domains = HashMap::new();
        domains.insert(
            "app.test".to_owned(),
            DomainEntry {
                key_hash: hash_key("right-key-0123456789"),
                access: None,
            },
        );
        table.set_domains(domains);
        table
    }

    #[test]
    fn keys_are_checked_by_hash() {
        let table = table();
        assert_eq!(table.verify("app.test", "right-key-0123456789"), Ok(()));
        assert_eq!(
            table.verify("app.test", "wrong-key-0123456789"),
            Err(HelloCode::BadKey)
        );
        assert_eq!(
            table.verify("other.test", "right-key-0123456789"),
            Err(HelloCode::UnknownDomain)
        );
    }

    #[test]
    fn unknown_and_offline_are_told_apart() {
        let table = table();
        assert!(matches!(table.route("app.test"), Route::Offline));
        assert!(matches!(table.route("nope.test"), Route::Unknown));
    }

    #[test]
    fn remote_sessions_are_routed_to_unless_there_is_a_local_one() {
        let table = table();
        let targets: RelayTargets = Arc::from(vec![Arc::from("http://10.0.0.2:8443")]);
        table.set_remote(HashMap::from([
            ("app.test".to_owned(), targets.clone()),
            ("unregistered.test".to_owned(), targets),
        ]));
        assert!(
            matches!(table.route("app.test"), Route::Remote(t) if t[0].as_ref() == "http://10.0.0.2:8443")
        );
        // A relayed request is never relayed again.
        assert!(matches!(table.route_relayed("app.test"), Route::Offline));
        // Only domains of the table are routed anywhere.
        assert!(matches!(table.route("unregistered.test"), Route::Unknown));
        assert!(table.is_remote("app.test"));
    }
}
