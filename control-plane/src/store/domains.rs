//! The admin operations on domains. Each write is one transaction that first bumps the
//! table version (which also takes the write lock: Postgres locks the meta row, SQLite the
//! database, so concurrent writers serialize and versions commit in order), then changes
//! the domain row and appends the change-log row. Nothing is half-written: an error rolls
//! the whole transaction back.

use sqlx::{AnyConnection, Row, any::AnyRow};

use super::{CHANGE_LOG_RETAIN, Store, StoreError, now_ms};
use crate::keys;

/// A domain as the admin API shows it.
#[derive(Debug, Clone)]
pub(crate) struct DomainRow {
    pub(crate) domain: String,
    pub(crate) memo: String,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) key_rotated_at: i64,
    /// ACME state: `pending`, `valid` or `failed: reason`; `None` before the first attempt.
    pub(crate) cert_status: Option<String>,
    /// Unix seconds.
    pub(crate) cert_not_after: Option<i64>,
}

const ROW_COLUMNS: &str =
    "domain, memo, created_at, updated_at, key_rotated_at, cert_status, cert_not_after";

fn domain_row(row: &AnyRow) -> Result<DomainRow, sqlx::Error> {
    Ok(DomainRow {
        domain: row.try_get("domain")?,
        memo: row.try_get("memo")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        key_rotated_at: row.try_get("key_rotated_at")?,
        cert_status: row.try_get("cert_status")?,
        cert_not_after: row.try_get("cert_not_after")?,
    })
}

/// Bumps the table version; the first statement of every write transaction.
pub(super) async fn bump_version(conn: &mut AnyConnection) -> Result<u64, StoreError> {
    let version: i64 = sqlx::query_scalar(
        "UPDATE table_meta SET version = version + 1 WHERE id = 1 RETURNING version",
    )
    .fetch_one(&mut *conn)
    .await?;
    u64::try_from(version).map_err(|_| StoreError::other(format!("negative version {version}")))
}

/// Appends the change-log row for `version` and prunes old rows.
pub(super) async fn log_change(
    conn: &mut AnyConnection,
    version: u64,
    domain: &str,
    op: &str,
    now: i64,
) -> Result<(), StoreError> {
    let version = i64::try_from(version).map_err(|_| StoreError::other("version overflow"))?;
    sqlx::query(
        "INSERT INTO table_changes (version, domain, op, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(version)
    .bind(domain)
    .bind(op)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if version > CHANGE_LOG_RETAIN {
        sqlx::query("DELETE FROM table_changes WHERE version <= $1")
            .bind(version - CHANGE_LOG_RETAIN)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn stored_hash(conn: &mut AnyConnection, domain: &str) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT key_hash FROM domains WHERE domain = $1")
            .bind(domain)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

impl Store {
    /// Adds `domain` with the hash of its key; returns the new table version.
    pub(crate) async fn register(
        &self,
        domain: &str,
        memo: &str,
        key_hash: &str,
    ) -> Result<u64, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let version = bump_version(&mut tx).await?;
        if stored_hash(&mut tx, domain).await?.is_some() {
            return Err(StoreError::Conflict);
        }
        sqlx::query(
            "INSERT INTO domains (id, domain, memo, key_hash, key_rotated_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5, $5)",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(domain)
        .bind(memo)
        .bind(key_hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        log_change(&mut tx, version, domain, "register", now).await?;
        tx.commit().await?;
        Ok(version)
    }

    /// Whether `presented_key` is `domain`'s key, by a plain read (hashed, compared in
    /// constant time): no write transaction, so a wrong key costs the writers nothing.
    pub(crate) async fn check_key(
        &self,
        domain: &str,
        presented_key: &str,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        let stored = stored_hash(&mut conn, domain)
            .await?
            .ok_or(StoreError::NotFound)?;
        if !keys::matches(&stored, presented_key) {
            return Err(StoreError::KeyMismatch);
        }
        Ok(())
    }

    /// Removes `domain`; with `presented_key`, only if it is the domain's key (checked again
    /// inside the transaction: the key may have been rotated since [`Store::check_key`]).
    /// Returns the new table version.
    pub(crate) async fn unregister(
        &self,
        domain: &str,
        presented_key: Option<&str>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let version = bump_version(&mut tx).await?;
        let stored = stored_hash(&mut tx, domain)
            .await?
            .ok_or(StoreError::NotFound)?;
        if presented_key.is_some_and(|key| !keys::matches(&stored, key)) {
            return Err(StoreError::KeyMismatch);
        }
        sqlx::query("DELETE FROM domains WHERE domain = $1")
            .bind(domain)
            .execute(&mut *tx)
            .await?;
        log_change(&mut tx, version, domain, "unregister", now_ms()).await?;
        tx.commit().await?;
        Ok(version)
    }

    /// Replaces the domain's key hash; returns the new table version.
    pub(crate) async fn rotate(&self, domain: &str, key_hash: &str) -> Result<u64, StoreError> {
        self.update_domain(
            domain,
            "rotate",
            "UPDATE domains SET key_hash = $1, key_rotated_at = $2, updated_at = $2 \
             WHERE domain = $3",
            key_hash,
        )
        .await
    }

    /// Changes one column of `domain`'s row in a write transaction (version bump, update,
    /// change-log row `op`); returns the new table version. `update` is the SQL `UPDATE`:
    /// `$1` is `value`, `$2` the time now (Unix ms), `$3` the domain.
    pub(super) async fn update_domain<'q, T>(
        &self,
        domain: &'q str,
        op: &str,
        update: &'static str,
        value: T,
    ) -> Result<u64, StoreError>
    where
        T: 'q + Send + sqlx::Encode<'q, sqlx::Any> + sqlx::Type<sqlx::Any>,
    {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let version = bump_version(&mut tx).await?;
        let updated = sqlx::query(update)
            .bind(value)
            .bind(now)
            .bind(domain)
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        log_change(&mut tx, version, domain, op, now).await?;
        tx.commit().await?;
        Ok(version)
    }

    /// Every domain, by name.
    pub(crate) async fn list(&self) -> Result<Vec<DomainRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ROW_COLUMNS} FROM domains ORDER BY domain"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(domain_row).collect::<Result<_, _>>()?)
    }

    pub(crate) async fn get(&self, domain: &str) -> Result<Option<DomainRow>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {ROW_COLUMNS} FROM domains WHERE domain = $1"
        ))
        .bind(domain)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(domain_row).transpose()?)
    }
}
