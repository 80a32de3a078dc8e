//! The table in memory and its fan-out to subscribed pods. Writers publish a [`Delta`]
//! after their transaction commits; publishing updates the table, keeps the delta in a ring
//! of recent ones (for pods that resume), and broadcasts it, all under one lock. A pod
//! subscribes under the same lock, so it gets exactly the deltas after its starting
//! point: nothing missed, nothing twice.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::{Arc, PoisonError, RwLock},
};

use hopgate_table::{
    CertificateRecord, Change, Delta, DomainRecord, SNAPSHOT_CHUNK, Since, Snapshot, TableMessage,
};
use tokio::sync::broadcast;

use crate::store::TableLoad;

/// Deltas kept in memory for resuming pods (and in the broadcast queue for slow ones; a
/// pod further behind gets a fresh snapshot).
pub(crate) const RECENT: usize = 1024;

struct State {
    epoch: String,
    version: u64,
    domains: BTreeMap<String, DomainRecord>,
    challenges: BTreeMap<String, String>,
    gateway_certificate: Option<CertificateRecord>,
    recent: VecDeque<Arc<Delta>>,
    tx: broadcast::Sender<Arc<Delta>>,
}

/// What a new subscriber starts with.
pub(crate) struct Subscription {
    /// Frames to send first: a snapshot (maybe in parts) or the missed deltas.
    pub(crate) initial: Vec<TableMessage>,
    /// Deltas after `version`.
    pub(crate) rx: broadcast::Receiver<Arc<Delta>>,
    /// The version the initial frames bring the pod to.
    pub(crate) version: u64,
    /// Whether `initial` is a snapshot (for logs).
    pub(crate) snapshot: bool,
}

pub(crate) struct Hub {
    state: RwLock<State>,
}

impl Hub {
    pub(crate) fn new(load: TableLoad) -> Self {
        let (tx, _) = broadcast::channel(RECENT);
        let mut recent: VecDeque<Arc<Delta>> = load.deltas.into_iter().map(Arc::new).collect();
        while recent.len() > RECENT {
            recent.pop_front();
        }
        Self {
            state: RwLock::new(State {
                epoch: load.epoch,
                version: load.version,
                domains: load.domains,
                challenges: BTreeMap::new(),
                gateway_certificate: load.gateway_certificate,
                recent,
                tx,
            }),
        }
    }

    /// Replaces everything (the database changed under us); current subscribers are cut
    /// off and come back for a snapshot.
    pub(crate) fn reset(&self, load: TableLoad) {
        let fresh = Self::new(load);
        let state = fresh
            .state
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = state;
    }

    pub(crate) fn since(&self) -> Since {
        let s = self.state.read().unwrap_or_else(PoisonError::into_inner);
        Since {
            epoch: s.epoch.clone(),
            version: s.version,
        }
    }

    /// (domains, subscribers) for `/metrics`.
    pub(crate) fn stats(&self) -> (usize, usize) {
        let s = self.state.read().unwrap_or_else(PoisonError::into_inner);
        (s.domains.len(), s.tx.receiver_count())
    }

    /// What the table holds for `domain`.
    pub(crate) fn record(&self, domain: &str) -> Option<DomainRecord> {
        let s = self.state.read().unwrap_or_else(PoisonError::into_inner);
        s.domains.get(domain).cloned()
    }

    /// `(domain, not_after_unix)` of every certificate in the table (the gateway's as
    /// `None`), for `/metrics`.
    pub(crate) fn certificate_expiries(&self) -> Vec<(Option<String>, i64)> {
        let s = self.state.read().unwrap_or_else(PoisonError::into_inner);
        let domains = s.domains.values().filter_map(|r| {
            let cert = r.certificate.as_ref()?;
            Some((Some(r.domain.clone()), cert.not_after_unix))
        });
        let gateway = s
            .gateway_certificate
            .as_ref()
            .map(|c| (None, c.not_after_unix));
        domains.chain(gateway).collect()
    }

    /// Applies a committed delta and sends it to every subscriber. Callers publish in
    /// version order (they hold the writer lock from transaction to publish).
    pub(crate) fn publish(&self, mut delta: Delta) {
        // Stamped here, right after the commit: pods measure propagation lag from it.
        delta.committed_unix_ms.get_or_insert_with(unix_ms_now);
        let mut s = self.state.write().unwrap_or_else(PoisonError::into_inner);
        for change in &delta.changes {
            match change {
                Change::Upsert(record) => {
                    s.domains.insert(record.domain.clone(), record.clone());
                }
                Change::Remove { domain } => {
                    s.domains.remove(domain);
                }
                Change::Challenge {
                    token,
                    key_authorization: Some(answer),
                } => {
                    s.challenges.insert(token.clone(), answer.clone());
                }
                Change::Challenge { token, .. } => {
                    s.challenges.remove(token);
                }
                Change::GatewayCertificate(certificate) => {
                    s.gateway_certificate.clone_from(certificate);
                }
            }
        }
        s.version = delta.version;
        let delta = Arc::new(delta);
        s.recent.push_back(delta.clone());
        if s.recent.len() > RECENT {
            s.recent.pop_front();
        }
        // No receivers is fine: nobody is subscribed.
        let _ = s.tx.send(delta);
    }

    /// Starts a subscription for a pod at `since`: only the missed deltas when it is on
    /// this epoch and they are all still in memory, otherwise a snapshot.
    pub(crate) fn subscribe(&self, since: Option<&Since>) -> Subscription {
        let s = self.state.read().unwrap_or_else(PoisonError::into_inner);
        let rx = s.tx.subscribe();
        if let Some(since) = since.filter(|p| p.epoch == s.epoch && p.version <= s.version) {
            let oldest_needed = since.version + 1;
            let covered = since.version == s.version
                || s.recent.front().is_some_and(|d| d.version <= oldest_needed);
            if covered {
                let initial = s
                    .recent
                    .iter()
                    .filter(|d| d.version > since.version)
                    .map(|d| TableMessage::Delta(Delta::clone(d)))
                    .collect();
                return Subscription {
                    initial,
                    rx,
                    version: s.version,
                    snapshot: false,
                };
            }
        }
        Subscription {
            initial: snapshot_frames(&s),
            rx,
            version: s.version,
            snapshot: true,
        }
    }
}

/// The whole table as frames of at most [`SNAPSHOT_CHUNK`] domains.
fn snapshot_frames(s: &State) -> Vec<TableMessage> {
    let records: Vec<&DomainRecord> = s.domains.values().collect();
    let chunks: Vec<&[&DomainRecord]> = if records.is_empty() {
        vec![&[]]
    } else {
        records.chunks(SNAPSHOT_CHUNK).collect()
    };
    let last = chunks.len() - 1;
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| {
            TableMessage::Snapshot(Snapshot {
                epoch: s.epoch.clone(),
                version: s.version,
                domains: chunk.iter().map(|r| (*r).clone()).collect(),
                challenges: if i == 0 {
                    s.challenges.clone()
                } else {
                    BTreeMap::new()
                },
                more: i != last,
                gateway_certificate: if i == 0 {
                    s.gateway_certificate.clone()
                } else {
                    None
                },
                access_policies: true,
            })
        })
        .collect()
}

#[cfg(test)]
#[path = "hub_tests.rs"]
mod tests;

/// Now, in unix milliseconds.
fn unix_ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
