//! Reads for the table push: the epoch and version, every domain's key hash,
//! certificate and access policy, the gateway's certificate, and what the recent versions touched. One
//! transaction, so the parts agree.

use std::collections::BTreeMap;

use hopgate_table::{CertificateRecord, Change, Delta, DomainRecord};
use sqlx::{AnyConnection, Row, any::AnyRow};

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
    /// The main domain's certificate, once issued.
    pub(crate) gateway_certificate: Option<CertificateRecord>,
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

/// The certificate columns of a row, when all are filled.
fn certificate(row: &AnyRow) -> Result<Option<CertificateRecord>, StoreError> {
    let chain: Option<String> = row.try_get("cert_chain_pem")?;
    let key: Option<String> = row.try_get("cert_key_pem")?;
    let not_after: Option<i64> = row.try_get("cert_not_after")?;
    Ok(match (chain, key, not_after) {
        (Some(chain_pem), Some(key_pem), Some(not_after_unix)) => Some(CertificateRecord {
            chain_pem,
            key_pem,
            not_after_unix,
        }),
        _ => None,
    })
}

const CERT_COLUMNS: &str = "cert_chain_pem, cert_key_pem, cert_not_after";

async fn gateway_certificate(
    conn: &mut AnyConnection,
    domain: Option<&str>,
) -> Result<Option<CertificateRecord>, StoreError> {
    let Some(domain) = domain else {
        return Ok(None);
    };
    let row = sqlx::query(&format!(
        "SELECT {CERT_COLUMNS} FROM gateway_certificates WHERE domain = $1"
    ))
    .bind(domain)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.as_ref().map(certificate).transpose()?.flatten())
}

async fn domains(conn: &mut AnyConnection) -> Result<BTreeMap<String, DomainRecord>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT domain, key_hash, access_policy, {CERT_COLUMNS} FROM domains"
    ))
    .fetch_all(&mut *conn)
    .await?;
    let mut out = BTreeMap::new();
    for row in rows {
        let domain: String = row.try_get("domain")?;
        let stored: String = row.try_get("key_hash")?;
        let access: Option<String> = row.try_get("access_policy")?;
        let access = super::access::from_column(&domain, access.as_deref())?;
        let key_hash = keys::parse_hash(&stored)
            .ok_or_else(|| StoreError::other(format!("{domain}: key_hash is not 64 hex digits")))?;
        out.insert(
            domain.clone(),
            DomainRecord {
                domain,
                key_hash,
                certificate: certificate(&row)?,
                access,
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
        let gateway = gateway_certificate(&mut tx, self.gateway_domain.as_deref()).await?;
        let floor = from.max(version.saturating_sub(limit as u64));
        let rows = sqlx::query(
            "SELECT version, domain, op FROM table_changes WHERE version > $1 ORDER BY version",
        )
        .bind(i64::try_from(floor).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut deltas = Vec::with_capacity(rows.len());
        for row in rows {
            let v: i64 = row.try_get("version")?;
            let domain: String = row.try_get("domain")?;
            let op: String = row.try_get("op")?;
            let change = match (op.strip_prefix("challenge "), op.as_str()) {
                (Some(token), _) => Change::Challenge {
                    token: token.to_owned(),
                    key_authorization: None,
                },
                (None, "gateway_certificate") => Change::GatewayCertificate(gateway.clone()),
                _ => match domains.get(&domain) {
                    Some(record) => Change::Upsert(record.clone()),
                    None => Change::Remove { domain },
                },
            };
            deltas.push(Delta {
                version: u64::try_from(v).unwrap_or_default(),
                changes: vec![change],
                // Replayed from the database: not a fresh commit.
                committed_unix_ms: None,
            });
        }
        Ok(TableLoad {
            epoch,
            version,
            domains,
            deltas,
            gateway_certificate: gateway,
        })
    }

    /// The epoch and version alone (cheap; the catch-up check).
    pub(crate) async fn table_version(&self) -> Result<(String, u64), StoreError> {
        let mut conn = self.pool.acquire().await?;
        meta(&mut conn).await
    }
}
