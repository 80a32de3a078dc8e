//! The routing table: which domains exist (with their key hashes and access policies),
//! which live session
//! serves each, and which other pods hold a session for a domain (cross-pod routing, from
//! the control-plane's placements). Read on every request without a global lock: the
//! domain and remote maps are swapped whole on change, live sessions sit in a sharded
//! concurrent map. A local session always wins over a remote one.
//!
//! While the pod drains, a session whose agent has already connected to another pod is
//! *moved*: this pod's visitors are relayed to the new pod, but requests other pods relay
//! here still use the old session (it stays open until the pod exits) and it is no longer
//! reported.

use std::{collections::HashMap, sync::Arc};

use arc_swap::ArcSwap;
use dashmap::DashMap;
use hopgate_protocol::HelloCode;
use hopgate_table::access::AccessPolicy;
use hopgate_transport::Session;
use subtle::ConstantTimeEq;

use crate::tunnel::session_actor::SessionActor;

/// A domain the gateway serves.
#[derive(Debug, Clone)]
pub(crate) struct DomainEntry {
    /// SHA-256 of the domain's client API key (keys are 256-bit random, so a fast hash fits).
    pub(crate) key_hash: [u8; 32],
    /// Who may reach the domain; `None`: everyone.
    pub(crate) access: Option<Arc<AccessPolicy>>,
}

/// A live agent session for one domain.
#[derive(Clone)]
pub(crate) struct SessionHandle {
    pub(crate) id: u64,
    pub(crate) domain: String,
    pub(crate) session: Session,
    pub(crate) actor: actix::Addr<SessionActor>,
}

/// What a request finds for its host.
pub(crate) enum Route {
    /// Nobody registered this domain.
    Unknown,
    /// Registered, but no agent is connected.
    Offline,
    /// Forward through this session.
    Live(SessionHandle),
    /// No session here; relay to one of these pods (relay URLs, in a stable order).
    Remote(RelayTargets),
}

/// Relay URLs of the other pods holding a domain's session.
pub(crate) type RelayTargets = Arc<[Arc<str>]>;

#[derive(Default)]
pub(crate) struct RoutingTable {
    domains: ArcSwap<HashMap<String, DomainEntry>>,
    sessions: DashMap<String, SessionHandle>,
    /// Sessions of a draining pod whose agents are live on another pod.
    moved: DashMap<String, SessionHandle>,
    /// Domain → other pods holding its session (from the control-plane's placements).
    remote: ArcSwap<HashMap<String, RelayTargets>>,
    /// Signalled whenever the set of live sessions changes (for the session report).
    changed: tokio::sync::Notify,
    /// Bumped whenever a session comes, goes or moves, or the other pods' placements
    /// change (for the drain, which waits for agents to move).
    placements: tokio::sync::watch::Sender<u64>,
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
        let removed: Vec<SessionHandle> = stale
            .into_iter()
            .filter_map(|d| self.sessions.remove(&d).map(|(_, h)| h))
            .collect();
        if !removed.is_empty() {
            self.sessions_moved();
        }
        removed
    }

    /// Takes the domain's session out of the table (its key was rotated).
    pub(crate) fn take(&self, domain: &str) -> Option<SessionHandle> {
        let taken = self.sessions.remove(domain).map(|(_, handle)| handle);
        if taken.is_some() {
            self.sessions_moved();
        }
        taken
    }

    /// Every live session (for a drain).
    pub(crate) fn all_sessions(&self) -> Vec<SessionHandle> {
        self.sessions.iter().map(|e| e.value().clone()).collect()
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

    /// Where a visitor's request for `host` goes: a local session, else another pod.
    pub(crate) fn route(&self, host: &str) -> Route {
        if let Some(handle) = self.sessions.get(host) {
            return Route::Live(handle.clone());
        }
        if !self.domains.load().contains_key(host) {
            return Route::Unknown;
        }
        if let Some(targets) = self.remote.load().get(host) {
            return Route::Remote(targets.clone());
        }
        match self.moved.get(host) {
            Some(handle) => Route::Live(handle.clone()),
            None => Route::Offline,
        }
    }

    /// Where a request another pod relayed here goes: local sessions only (one hop).
    pub(crate) fn route_relayed(&self, host: &str) -> Route {
        if let Some(handle) = self.sessions.get(host).or_else(|| self.moved.get(host)) {
            return Route::Live(handle.clone());
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

    /// The agent of `domain` is live on another pod: visitors here go there from now on,
    /// relayed requests still use this session (see the module docs).
    pub(crate) fn mark_moved(&self, domain: &str, id: u64) {
        if let Some((_, handle)) = self.sessions.remove_if(domain, |_, h| h.id == id) {
            self.moved.insert(domain.to_owned(), handle);
            self.sessions_moved();
        }
    }

    /// Makes `handle` the domain's session; returns the one it replaces.
    pub(crate) fn register(&self, domain: &str, handle: SessionHandle) -> Option<SessionHandle> {
        let old = self.sessions.insert(domain.to_owned(), handle);
        self.sessions_moved();
        old
    }

    /// Removes the domain's session if it is still session `id`.
    pub(crate) fn deregister(&self, domain: &str, id: u64) {
        self.moved.remove_if(domain, |_, handle| handle.id == id);
        if self
            .sessions
            .remove_if(domain, |_, handle| handle.id == id)
            .is_some()
        {
            self.sessions_moved();
        }
    }

    pub(crate) fn live_sessions(&self) -> usize {
        self.sessions.len()
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
