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
//!
//! - this module: [`RoutingTable`] and what it answers with;
//! - `domains`: the domain map (the agents' hello is checked against it) and the remote
//!   map of other pods' sessions, both replaced whole from the control-plane's pushes;
//! - `sessions`: the live and moved sessions, as they come, move and go, and what is
//!   reported of them;
//! - `pick`: where a request goes: a local session, another pod, or nowhere.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize},
    },
};

use arc_swap::ArcSwap;
use dashmap::DashMap;
use hopgate_table::access::AccessPolicy;

use crate::tunnel::pool::Sessions;
pub(crate) use crate::tunnel::pool::{Admitted, Picked, PoolFull, SessionHandle};

mod domains;
mod pick;
mod sessions;

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
}

/// A table that knows `app.test` (key `right-key-0123456789`), and no session.
#[cfg(test)]
fn app_test_table() -> Arc<RoutingTable> {
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
