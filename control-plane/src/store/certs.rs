//! ACME state in the database: the account per directory, each certificate's status, and
//! issued certificates. A new certificate is a table change like an admin write: one
//! transaction bumps the version, stores the certificate and logs the change, so pods that
//! resume get it too. Challenge answers live only in memory, but each one still takes a
//! version (the pods' deltas are gap-free); its log row (`challenge TOKEN`) replays as a
//! removal, since a restarted control-plane has no order in flight.

use hopgate_table::CertificateRecord;
use sqlx::Row;

use super::{
    Store, StoreError,
    domains::{bump_version, log_change},
    now_ms,
};

/// Whose certificate: a registered domain's, or the gateway's own (`HOP_SERVER_DOMAIN`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum CertOwner {
    Domain(String),
    Gateway(String),
}

impl CertOwner {
    /// The name on the certificate.
    pub(crate) fn name(&self) -> &str {
        match self {
            Self::Domain(name) | Self::Gateway(name) => name,
        }
    }
}

/// A certificate's row, as the ACME worker needs it at start.
#[derive(Debug, Clone)]
pub(crate) struct StoredCert {
    pub(crate) owner: CertOwner,
    pub(crate) chain_pem: Option<String>,
}

/// The change-log `op` of a challenge answer.
pub(crate) fn challenge_op(token: &str) -> String {
    format!("challenge {token}")
}

impl Store {
    /// The stored ACME account credentials (JSON) for `directory`.
    pub(crate) async fn acme_account(&self, directory: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT credentials FROM acme_accounts WHERE directory = $1")
                .bind(directory)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Stores new account credentials unless some are stored already; returns the stored
    /// ones (the first writer wins, so two control-planes end up with one account).
    pub(crate) async fn save_acme_account(
        &self,
        directory: &str,
        credentials: &str,
    ) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO acme_accounts (directory, credentials, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (directory) DO NOTHING",
        )
        .bind(directory)
        .bind(credentials)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        self.acme_account(directory)
            .await?
            .ok_or_else(|| StoreError::other("ACME account row vanished"))
    }

    /// Sets the status (`pending`, `failed: …`) shown in the admin API; the certificate
    /// itself is untouched. A domain that is gone is not an error.
    pub(crate) async fn set_cert_status(
        &self,
        owner: &CertOwner,
        status: &str,
    ) -> Result<(), StoreError> {
        let sql = match owner {
            CertOwner::Domain(_) => "UPDATE domains SET cert_status = $2 WHERE domain = $1",
            CertOwner::Gateway(_) => {
                "INSERT INTO gateway_certificates (domain, cert_status, updated_at) \
                 VALUES ($1, $2, $3) ON CONFLICT (domain) DO UPDATE \
                 SET cert_status = excluded.cert_status, updated_at = excluded.updated_at"
            }
        };
        let query = sqlx::query(sql).bind(owner.name()).bind(status);
        let query = match owner {
            CertOwner::Domain(_) => query,
            CertOwner::Gateway(_) => query.bind(now_ms()),
        };
        query.execute(&self.pool).await?;
        Ok(())
    }

    /// Stores an issued certificate with status `valid`; returns the new table version.
    /// [`StoreError::NotFound`] if the domain was unregistered meanwhile (nothing changes).
    pub(crate) async fn store_certificate(
        &self,
        owner: &CertOwner,
        cert: &CertificateRecord,
    ) -> Result<u64, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let version = bump_version(&mut tx).await?;
        let (sql, op) = match owner {
            CertOwner::Domain(_) => (
                "UPDATE domains SET cert_chain_pem = $2, cert_key_pem = $3, cert_not_after = $4, \
                 cert_status = 'valid' WHERE domain = $1",
                "certificate",
            ),
            CertOwner::Gateway(_) => (
                "INSERT INTO gateway_certificates \
                 (domain, cert_chain_pem, cert_key_pem, cert_not_after, cert_status, updated_at) \
                 VALUES ($1, $2, $3, $4, 'valid', $5) ON CONFLICT (domain) DO UPDATE SET \
                 cert_chain_pem = excluded.cert_chain_pem, cert_key_pem = excluded.cert_key_pem, \
                 cert_not_after = excluded.cert_not_after, cert_status = 'valid', \
                 updated_at = excluded.updated_at",
                "gateway_certificate",
            ),
        };
        let query = sqlx::query(sql)
            .bind(owner.name())
            .bind(&cert.chain_pem)
            .bind(&cert.key_pem)
            .bind(cert.not_after_unix);
        let query = match owner {
            CertOwner::Domain(_) => query,
            CertOwner::Gateway(_) => query.bind(now),
        };
        if query.execute(&mut *tx).await?.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        log_change(&mut tx, version, owner.name(), op, now).await?;
        tx.commit().await?;
        Ok(version)
    }

    /// Takes a table version for a challenge answer appearing or going away.
    pub(crate) async fn log_challenge(&self, domain: &str, token: &str) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let version = bump_version(&mut tx).await?;
        log_change(&mut tx, version, domain, &challenge_op(token), now_ms()).await?;
        tx.commit().await?;
        Ok(version)
    }

    /// Every registered domain's certificate, and the gateway's (if `HOP_SERVER_DOMAIN`
    /// is set).
    pub(crate) async fn certificates(&self) -> Result<Vec<StoredCert>, StoreError> {
        let rows = sqlx::query("SELECT domain, cert_chain_pem FROM domains ORDER BY domain")
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len() + 1);
        for row in rows {
            out.push(StoredCert {
                owner: CertOwner::Domain(row.try_get("domain")?),
                chain_pem: row.try_get("cert_chain_pem")?,
            });
        }
        if let Some(gateway) = &self.gateway_domain {
            let chain_pem: Option<Option<String>> = sqlx::query_scalar(
                "SELECT cert_chain_pem FROM gateway_certificates WHERE domain = $1",
            )
            .bind(gateway)
            .fetch_optional(&self.pool)
            .await?;
            out.push(StoredCert {
                owner: CertOwner::Gateway(gateway.clone()),
                chain_pem: chain_pem.flatten(),
            });
        }
        Ok(out)
    }
}
