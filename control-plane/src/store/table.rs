//! Reads for the table push: the epoch and version, every domain's key hash, and which
//! domains the recent versions touched. One transaction, so the parts agree.

use std::collections::BTreeMap;

use hopgate_table::{Change, Delta, DomainRecord};
use sqlx::{AnyConnection, Row};

use super::{Store, StoreError};
use crate::keys;

/// The table as the database holds it.
#[derive(Debug, Clone)]
pub(crate) struct TableLoad {
    pub(crate) epoch: String,
    pub(crate) version: u64,
    pub(crate) domains: BTreeMap<String, DomainRecord>,
    /// Deltas for the logged versions after `from`, oldest first. Each carries the
    /// domain's current state (an upsert if it exists now, a remove if not): replaying them
    /// in order ends at the current table, which is all a resuming pod needs.
    pub(crate) deltas: Vec<Delta>,
}

async fn meta(conn: &mut AnyConnection) -> Result<(String, u64), StoreError> {
    let row = sqlx::query("SELECT epoch, version FROM table_meta WHERE id = 1")
        .fetch_one(&mut *conn)
        .await?;
    let version: i64 = row.try_get("version")?;
    Ok((
        row.try_get("epoch")?,
        u64::try_from(version).unwrap_or_default(),
    ))
}

async fn domains(conn: &mut AnyConnection) -> Result<BTreeMap<String, DomainRecord>, StoreError> {
    let rows = sqlx::query("SELECT domain, key_hash FROM domains")
        .fetch_all(&mut *conn)
        .await?;
    let mut out = BTreeMap::new();
    for row in rows {
        let domain: String = row.try_get("domain")?;
        let stored: String = row.try_get("key_hash")?;
        let key_hash = keys::parse_hash(&stored)
            .ok_or_else(|| StoreError::Other(format!("{domain}: key_hash is not 64 hex digits")))?;
        out.insert(
            domain.clone(),
            DomainRecord {
                domain,
                key_hash,
                certificate: None,
            },
        );
    }
    Ok(out)
}

impl Store {
    /// The current table, plus deltas for the logged versions after `from` (at most
    /// `limit` of the newest).
    pub(crate) async fn load_table(
        &self,
        from: u64,
        limit: usize,
    ) -> Result<TableLoad, StoreError> {
        let mut tx = self.pool.begin().await?;
        let (epoch, version) = meta(&mut tx).await?;
        let domains = domains(&mut tx).await?;
        let floor = from.max(version.saturating_sub(limit as u64));
        let rows = sqlx::query(
            "SELECT version, domain FROM table_changes WHERE version > $1 ORDER BY version",
        )
        .bind(i64::try_from(floor).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut deltas = Vec::with_capacity(rows.len());
        for row in rows {
            let v: i64 = row.try_get("version")?;
            let domain: String = row.try_get("domain")?;
            let change = match domains.get(&domain) {
                Some(record) => Change::Upsert(record.clone()),
                None => Change::Remove { domain },
            };
            deltas.push(Delta {
                version: u64::try_from(v).unwrap_or_default(),
                changes: vec![change],
            });
        }
        Ok(TableLoad {
            epoch,
            version,
            domains,
            deltas,
        })
    }

    /// The epoch and version alone (cheap; the catch-up check).
    pub(crate) async fn table_version(&self) -> Result<(String, u64), StoreError> {
        let mut conn = self.pool.acquire().await?;
        meta(&mut conn).await
    }
}
