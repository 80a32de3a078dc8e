//! The pod's copy of the table: domains (key hashes, certificates, access policies), ACME
//! challenge answers,
//! and where it stands (`epoch`, `version`). [`Table::apply`] takes one message from the
//! stream and says which domains changed, so the caller can drop sessions.

use std::collections::{BTreeMap, HashMap};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::wire::{CertificateRecord, Change, Delta, DomainRecord, Since, Snapshot, TableMessage};

/// SHA-256 of a client API key's UTF-8 bytes: what the table stores and compares.
pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// How a domain changed in one [`Table::apply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    /// Unregistered: drop its sessions.
    Removed,
    /// The key was rotated: drop sessions opened with the old key.
    KeyChanged,
    /// Only the certificate changed: reload it, keep sessions.
    CertificateChanged,
    /// Only the access policy changed: keep sessions, check visitors against the new one.
    AccessChanged,
    /// The gateway's (main domain's) certificate changed: reload
    /// [`Table::gateway_certificate`]. [`DomainChange::domain`] is empty.
    GatewayCertificateChanged,
}

/// One domain that changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainChange {
    pub domain: String,
    pub kind: ChangeKind,
}

impl DomainChange {
    /// Whether the domain's live sessions must be dropped.
    pub fn drops_sessions(&self) -> bool {
        matches!(self.kind, ChangeKind::Removed | ChangeKind::KeyChanged)
    }
}

/// Why a message can't be applied; the subscriber reconnects and resyncs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error("delta {got} arrived before any snapshot")]
    NotLoaded { got: u64 },
    #[error("delta {got} skips versions (table is at {have})")]
    Gap { have: u64, got: u64 },
    #[error("heartbeat says version {got} but the table is at {have}")]
    OutOfSync { have: u64, got: u64 },
    #[error("snapshot frame for {got} continues a different snapshot ({expected})")]
    BrokenSnapshot { expected: Since, got: Since },
}

/// Why a presented key isn't accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("unknown domain")]
    UnknownDomain,
    #[error("wrong key")]
    BadKey,
}

/// The table as a pod holds it.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// `None` until a snapshot is applied (from the control-plane or the file).
    since: Option<Since>,
    domains: HashMap<String, DomainRecord>,
    challenges: BTreeMap<String, String>,
    gateway_certificate: Option<CertificateRecord>,
    /// A snapshot arriving in several frames; swapped in at its last frame.
    staged: Option<Snapshot>,
    /// When the control-plane committed the last delta applied (`None` after a snapshot).
    last_commit_unix_ms: Option<u64>,
    /// The snapshot this table grew from carried access policies
    /// ([`Snapshot::access_policies`]).
    access_policies: bool,
}

impl Table {
    /// An empty table that has never been loaded.
    pub fn new() -> Self {
        Self::default()
    }
    /// Whether a whole snapshot was applied, so the table can be served.
    pub fn is_loaded(&self) -> bool {
        self.since.is_some()
    }

    /// `epoch:version`, once loaded.
    pub fn since(&self) -> Option<&Since> {
        self.since.as_ref()
    }

    /// Where to resume from: [`Table::since`], unless the table grew from a snapshot
    /// without access policies (an older pod's file, or an older control-plane's stream),
    /// which may lack restricted domains: then `None`, and a whole snapshot is asked for.
    pub fn resume_point(&self) -> Option<&Since> {
        self.since.as_ref().filter(|_| self.access_policies)
    }

    /// The version, once loaded.
    pub fn version(&self) -> Option<u64> {
        self.since.as_ref().map(|s| s.version)
    }

    /// When the control-plane committed the last delta applied (unix ms), if it said so;
    /// `None` after a snapshot.
    pub fn last_commit_unix_ms(&self) -> Option<u64> {
        self.last_commit_unix_ms
    }

    pub fn get(&self, domain: &str) -> Option<&DomainRecord> {
        self.domains.get(domain)
    }
    /// All domains, in no particular order.
    pub fn domains(&self) -> impl Iterator<Item = &DomainRecord> {
        self.domains.values()
    }

    pub fn len(&self) -> usize {
        self.domains.len()
    }
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }

    /// The key authorization for an ACME HTTP-01 token.
    pub fn challenge(&self, token: &str) -> Option<&str> {
        self.challenges.get(token).map(String::as_str)
    }

    /// The main domain's certificate, once issued.
    pub fn gateway_certificate(&self) -> Option<&CertificateRecord> {
        self.gateway_certificate.as_ref()
    }

    /// Checks an agent's key: hashes it and compares in constant time.
    pub fn verify_key(&self, domain: &str, key: &str) -> Result<(), VerifyError> {
        let record = self.domains.get(domain).ok_or(VerifyError::UnknownDomain)?;
        if bool::from(hash_key(key).ct_eq(&record.key_hash)) {
            Ok(())
        } else {
            Err(VerifyError::BadKey)
        }
    }

    /// The whole table as one snapshot (for the file), once loaded.
    pub fn to_snapshot(&self) -> Option<Snapshot> {
        let since = self.since.as_ref()?;
        let mut domains: Vec<DomainRecord> = self.domains.values().cloned().collect();
        domains.sort_by(|a, b| a.domain.cmp(&b.domain));
        Some(Snapshot {
            epoch: since.epoch.clone(),
            version: since.version,
            domains,
            challenges: self.challenges.clone(),
            more: false,
            gateway_certificate: self.gateway_certificate.clone(),
            access_policies: self.access_policies,
        })
    }

    /// Forgets a partly received snapshot (the connection carrying it broke).
    pub fn discard_partial(&mut self) {
        self.staged = None;
    }

    /// Applies one message; returns the domains that changed (empty for heartbeats,
    /// duplicates, and all but the last frame of a snapshot).
    pub fn apply(&mut self, message: TableMessage) -> Result<Vec<DomainChange>, ApplyError> {
        match message {
            TableMessage::Snapshot(part) => self.apply_snapshot(part),
            TableMessage::Delta(delta) => self.apply_delta(delta),
            TableMessage::Heartbeat { version } => match self.version() {
                Some(have) if have != version && self.staged.is_none() => {
                    Err(ApplyError::OutOfSync { have, got: version })
                }
                _ => Ok(Vec::new()),
            },
            // Not part of the versioned table (the subscriber hands it on elsewhere).
            TableMessage::Placement(_) => Ok(Vec::new()),
        }
    }

    fn apply_snapshot(&mut self, part: Snapshot) -> Result<Vec<DomainChange>, ApplyError> {
        let whole = match self.staged.take() {
            None => part,
            Some(mut staged) => {
                if (&staged.epoch, staged.version) != (&part.epoch, part.version) {
                    return Err(ApplyError::BrokenSnapshot {
                        expected: Since {
                            epoch: staged.epoch,
                            version: staged.version,
                        },
                        got: Since {
                            epoch: part.epoch,
                            version: part.version,
                        },
                    });
                }
                staged.domains.extend(part.domains);
                staged.challenges.extend(part.challenges);
                staged.gateway_certificate =
                    part.gateway_certificate.or(staged.gateway_certificate);
                staged.more = part.more;
                staged
            }
        };
        if whole.more {
            self.staged = Some(whole);
            return Ok(Vec::new());
        }
        let new: HashMap<String, DomainRecord> = whole
            .domains
            .into_iter()
            .map(|r| (r.domain.clone(), r))
            .collect();
        let mut changes: Vec<DomainChange> = self
            .domains
            .keys()
            .filter(|d| !new.contains_key(*d))
            .map(|d| change(d, ChangeKind::Removed))
            .collect();
        for record in new.values() {
            if let Some(kind) = classify(self.domains.get(&record.domain), record) {
                changes.push(change(&record.domain, kind));
            }
        }
        changes.sort_by(|a, b| a.domain.cmp(&b.domain));
        if self.gateway_certificate != whole.gateway_certificate {
            changes.push(change("", ChangeKind::GatewayCertificateChanged));
        }
        self.gateway_certificate = whole.gateway_certificate;
        self.domains = new;
        self.challenges = whole.challenges;
        self.access_policies = whole.access_policies;
        self.since = Some(Since {
            epoch: whole.epoch,
            version: whole.version,
        });
        self.last_commit_unix_ms = None;
        Ok(changes)
    }

    fn apply_delta(&mut self, delta: Delta) -> Result<Vec<DomainChange>, ApplyError> {
        let Some(since) = self.since.as_mut() else {
            return Err(ApplyError::NotLoaded { got: delta.version });
        };
        if delta.version <= since.version {
            return Ok(Vec::new());
        }
        if delta.version != since.version + 1 {
            return Err(ApplyError::Gap {
                have: since.version,
                got: delta.version,
            });
        }
        since.version = delta.version;
        self.last_commit_unix_ms = delta.committed_unix_ms;
        let mut changes = Vec::new();
        for c in delta.changes {
            match c {
                Change::Upsert(record) => {
                    if let Some(kind) = classify(self.domains.get(&record.domain), &record) {
                        changes.push(change(&record.domain, kind));
                    }
                    self.domains.insert(record.domain.clone(), record);
                }
                Change::Remove { domain } => {
                    if self.domains.remove(&domain).is_some() {
                        changes.push(change(&domain, ChangeKind::Removed));
                    }
                }
                Change::Challenge {
                    token,
                    key_authorization: Some(answer),
                } => {
                    self.challenges.insert(token, answer);
                }
                Change::Challenge { token, .. } => drop(self.challenges.remove(&token)),
                Change::GatewayCertificate(certificate) => {
                    if self.gateway_certificate != certificate {
                        changes.push(change("", ChangeKind::GatewayCertificateChanged));
                    }
                    self.gateway_certificate = certificate;
                }
            }
        }
        Ok(changes)
    }
}

fn change(domain: &str, kind: ChangeKind) -> DomainChange {
    DomainChange {
        domain: domain.to_owned(),
        kind,
    }
}

/// How `new` differs from `old`, if at all.
fn classify(old: Option<&DomainRecord>, new: &DomainRecord) -> Option<ChangeKind> {
    match old {
        None => Some(ChangeKind::Added),
        Some(old) if old.key_hash != new.key_hash => Some(ChangeKind::KeyChanged),
        Some(old) if old.certificate != new.certificate => Some(ChangeKind::CertificateChanged),
        Some(old) if old.access != new.access => Some(ChangeKind::AccessChanged),
        Some(_) => None,
    }
}

#[cfg(test)]
#[path = "table_gateway_tests.rs"]
mod gateway_tests;
#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
