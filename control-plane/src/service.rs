//! The domain operations behind the admin API: a database transaction, then the delta
//! published to the pods. One writer at a time (an async mutex held from the transaction to
//! the publish), so deltas leave in version order. A background check also catches the
//! hub up with versions written by someone else (another control-plane on the same
//! database, or a commit whose answer was lost).

use std::{sync::Arc, time::Duration};

use hopgate_table::{Change, Delta, DomainRecord, access::AccessPolicy};
use slog::{Logger, info, warn};
use tokio::sync::Mutex;

use crate::{
    hub::{Hub, RECENT},
    keys,
    store::{Store, StoreError},
};

/// How often the hub is compared with the database.
pub(crate) const CATCH_UP_INTERVAL: Duration = Duration::from_secs(5);

pub(crate) struct Domains {
    pub(crate) store: Store,
    pub(crate) hub: Arc<Hub>,
    /// Held from a transaction's start to its delta's publish (ACME's writes take it too).
    pub(crate) writer: Mutex<()>,
    pub(crate) log: Logger,
}

impl Domains {
    pub(crate) fn new(store: Store, hub: Arc<Hub>, log: Logger) -> Self {
        Self {
            store,
            hub,
            writer: Mutex::new(()),
            log,
        }
    }

    /// Registers `domain`; returns its new client API key (shown once, never logged).
    pub(crate) async fn register(&self, domain: &str, memo: &str) -> Result<String, StoreError> {
        let key = keys::generate();
        let hash = hopgate_table::hash_key(&key);
        let _writer = self.writer.lock().await;
        let version = self
            .store
            .register(domain, memo, &hex::encode(hash))
            .await?;
        self.hub.publish(upsert(version, domain, hash));
        info!(self.log, "domain registered"; "domain" => domain, "version" => version);
        Ok(key)
    }

    /// Unregisters `domain`, checking `presented_key` if given (a caller without the admin
    /// key). The key is checked by a read before the writer lock is taken: anyone can send
    /// wrong keys, and they must not queue up in front of the admin's and ACME's writes.
    pub(crate) async fn unregister(
        &self,
        domain: &str,
        presented_key: Option<&str>,
    ) -> Result<(), StoreError> {
        if let Some(key) = presented_key {
            self.store.check_key(domain, key).await?;
        }
        let _writer = self.writer.lock().await;
        let version = self.store.unregister(domain, presented_key).await?;
        self.hub.publish(Delta {
            version,
            changes: vec![Change::Remove {
                domain: domain.to_owned(),
            }],
            committed_unix_ms: None,
        });
        info!(self.log, "domain unregistered"; "domain" => domain, "version" => version,
            "by" => if presented_key.is_some() { "client_key" } else { "admin" });
        Ok(())
    }

    /// Gives `domain` a new key; the old one stops working when pods apply the delta.
    pub(crate) async fn rotate(&self, domain: &str) -> Result<String, StoreError> {
        let key = keys::generate();
        let hash = hopgate_table::hash_key(&key);
        let _writer = self.writer.lock().await;
        let version = self.store.rotate(domain, &hex::encode(hash)).await?;
        // The certificate and the access policy stay: only the key changes.
        let kept = self.hub.record(domain);
        self.hub.publish(Delta {
            version,
            changes: vec![Change::Upsert(DomainRecord {
                domain: domain.to_owned(),
                key_hash: hash,
                certificate: kept.as_ref().and_then(|r| r.certificate.clone()),
                access: kept.and_then(|r| r.access),
            })],
            committed_unix_ms: None,
        });
        info!(self.log, "domain key rotated"; "domain" => domain, "version" => version);
        Ok(key)
    }

    /// Replaces `domain`'s access policy (`None` or an open policy clears it); pods enforce
    /// the new one when the delta arrives.
    pub(crate) async fn set_access(
        &self,
        domain: &str,
        policy: Option<AccessPolicy>,
    ) -> Result<(), StoreError> {
        let policy = policy.filter(|p| !p.is_open());
        let _writer = self.writer.lock().await;
        let version = self.store.set_access(domain, policy.as_ref()).await?;
        let record = self.hub.record(domain).ok_or_else(|| {
            StoreError::other(format!("{domain} is in the database but not the table"))
        })?;
        self.hub.publish(Delta {
            version,
            changes: vec![Change::Upsert(DomainRecord {
                access: policy,
                ..record
            })],
            committed_unix_ms: None,
        });
        info!(self.log, "domain access policy set"; "domain" => domain, "version" => version);
        Ok(())
    }

    /// Brings the hub up to the database's version (normally a no-op).
    pub(crate) async fn catch_up(&self) -> Result<(), StoreError> {
        let _writer = self.writer.lock().await;
        let (epoch, version) = self.store.table_version().await?;
        let mine = self.hub.since();
        if epoch == mine.epoch && version == mine.version {
            return Ok(());
        }
        let load = self.store.load_table(mine.version, RECENT).await?;
        let contiguous = load.epoch == mine.epoch
            && load.version > mine.version
            && load
                .deltas
                .first()
                .is_some_and(|d| d.version == mine.version + 1)
            && load
                .deltas
                .last()
                .is_some_and(|d| d.version == load.version);
        if contiguous {
            info!(self.log, "table caught up with the database";
                "from" => mine.version, "to" => load.version);
            for delta in load.deltas {
                self.hub.publish(delta);
            }
        } else {
            warn!(self.log, "database table changed under the control-plane; reloading";
                "from" => mine.to_string(), "to" => format!("{}:{}", load.epoch, load.version));
            self.hub.reset(load);
        }
        Ok(())
    }

    /// Runs [`Domains::catch_up`] every [`CATCH_UP_INTERVAL`], logging when it starts and
    /// stops failing (not every attempt while the database is down).
    pub(crate) async fn catch_up_forever(self: Arc<Self>) {
        let mut failing = false;
        loop {
            tokio::time::sleep(CATCH_UP_INTERVAL).await;
            match self.catch_up().await {
                Ok(()) if failing => {
                    failing = false;
                    info!(self.log, "database reachable again");
                }
                Ok(()) => {}
                Err(e) if !failing => {
                    failing = true;
                    warn!(self.log, "table catch-up failed"; "error" => e.to_string());
                }
                Err(_) => {}
            }
        }
    }
}

fn upsert(version: u64, domain: &str, key_hash: [u8; 32]) -> Delta {
    Delta {
        version,
        changes: vec![Change::Upsert(DomainRecord {
            domain: domain.to_owned(),
            key_hash,
            certificate: None,
            access: None,
        })],
        committed_unix_ms: None,
    }
}
