//! The database: one [`sqlx::AnyPool`] over Postgres or SQLite with portable SQL, the
//! embedded migrations, and the mapping of database failures to [`StoreError`].
//!
//! - `domains`: the admin operations (each one transaction: the domain row, the version
//!   bump and the change-log row commit together) and the reads behind the admin API.
//! - `table`: what the table push needs (the whole table, the changes since a version).
//! - `certs`: ACME state (account, certificate status, issued certificates).
//! - `access`: domains' access policies (salted password hashes, address ranges).
//! - `sqlite_files`: the embedded database's files and directory readable by this user only.

mod access;
mod certs;
mod domains;
mod sqlite_files;
mod table;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use slog::{Logger, warn};
use sqlx::{AnyPool, Connection, any::AnyPoolOptions};

pub(crate) use self::{certs::CertOwner, domains::DomainRow, table::TableLoad};
use crate::config::Config;

/// The migrations in `/migrations`, compiled in.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// How many change-log rows are kept (older ones are pruned as new ones are written).
pub(crate) const CHANGE_LOG_RETAIN: i64 = 10_000;

/// The library error behind a [`StoreError`], kept as its `source()`.
type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Why a database operation failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    /// The database can't be reached or refuses work now (→ 503).
    #[error("database unavailable: {reason}")]
    Unavailable {
        reason: String,
        #[source]
        cause: Option<Cause>,
    },
    #[error("domain is already registered")]
    Conflict,
    #[error("domain is not registered")]
    NotFound,
    #[error("the client API key does not match")]
    KeyMismatch,
    /// Anything else (a bug or a schema problem) (→ 500).
    #[error("database error: {reason}")]
    Other {
        reason: String,
        #[source]
        cause: Option<Cause>,
    },
}

impl StoreError {
    /// Unavailable because of `cause`, which `reason` describes.
    pub(crate) fn unavailable_because(
        reason: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Unavailable {
            reason: reason.into(),
            cause: Some(Box::new(cause)),
        }
    }

    /// Any other failure, for a reason of our own.
    pub(crate) fn other(reason: impl Into<String>) -> Self {
        Self::Other {
            reason: reason.into(),
            cause: None,
        }
    }

    /// Any other failure because of `cause`, which `reason` describes.
    pub(crate) fn other_because(
        reason: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Other {
            reason: reason.into(),
            cause: Some(Box::new(cause)),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match &e {
            E::Database(db) if db.is_unique_violation() => Self::Conflict,
            E::Database(db) if unavailable_code(db.code().as_deref()) => {
                Self::unavailable_because(e.to_string(), e)
            }
            E::PoolTimedOut => Self::unavailable_because(
                "no connection could be opened or freed within HOP_DB_ACQUIRE_TIMEOUT",
                e,
            ),
            E::Io(_) | E::Tls(_) | E::Protocol(_) | E::PoolClosed | E::WorkerCrashed => {
                Self::unavailable_because(e.to_string(), e)
            }
            _ => Self::other_because(e.to_string(), e),
        }
    }
}

/// Database error codes that mean "not now" rather than "wrong": Postgres classes 08
/// (connection), 53 (resources), 57 (operator intervention: shutdown, terminated), 55000
/// (e.g. `ALLOW_CONNECTIONS false`), 3D000 (no such database); SQLite BUSY, LOCKED,
/// READONLY, IOERR, FULL, CANTOPEN (primary result codes).
fn unavailable_code(code: Option<&str>) -> bool {
    let Some(code) = code else { return false };
    // SQLSTATEs are five characters; SQLite's (extended) result codes at most four digits.
    if code.len() == 5 {
        return ["08", "53", "57"]
            .iter()
            .any(|class| code.starts_with(class))
            || matches!(code, "55000" | "3D000");
    }
    code.parse::<i64>()
        .is_ok_and(|sqlite| matches!(sqlite & 0xff, 5 | 6 | 8 | 10 | 13 | 14))
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The database handle.
#[derive(Clone)]
pub(crate) struct Store {
    pool: AnyPool,
    /// `HOP_SERVER_DOMAIN`: whose row of `gateway_certificates` the table carries.
    gateway_domain: Option<String>,
}

/// Which database `HOP_DB_DSN` names (for logs; never the DSN itself, it may hold a
/// password).
pub(crate) fn backend_name(config: &Config) -> &'static str {
    match &config.db.dsn {
        Some(dsn) if dsn.expose().starts_with("postgres") => "postgres",
        _ => "sqlite",
    }
}

/// The URL to connect to: the DSN, or `hopgate.db` in the state directory (made `0700`).
/// SQLite files are created if missing (`mode=rwc`) unless the DSN says otherwise.
fn database_url(config: &Config, log: &Logger) -> Result<String, StoreError> {
    let url = match &config.db.dsn {
        Some(dsn) => dsn.expose().to_owned(),
        None => {
            let change = sqlite_files::prepare_state_dir(&config.state_dir).map_err(|e| {
                let reason = format!(
                    "cannot create the state directory {}: {e}",
                    config.state_dir.display()
                );
                StoreError::unavailable_because(reason, e)
            })?;
            log_changes(log, change);
            format!("sqlite://{}", config.state_dir.join("hopgate.db").display())
        }
    };
    if url.starts_with("sqlite:") && !url.contains("mode=") {
        let sep = if url.contains('?') { '&' } else { '?' };
        return Ok(format!("{url}{sep}mode=rwc"));
    }
    Ok(url)
}

/// Makes the SQLite database's files `0600` (creating the database file first when SQLite
/// would); nothing for Postgres.
fn make_sqlite_private(url: &str, log: &Logger) -> Result<(), StoreError> {
    let Some((db, create)) = sqlite_files::database_file(url) else {
        return Ok(());
    };
    let changes = sqlite_files::make_private(&db, create).map_err(|e| {
        StoreError::unavailable_because(format!("database file {}: {e}", db.display()), e)
    })?;
    log_changes(log, changes);
    Ok(())
}

fn log_changes(log: &Logger, changes: impl IntoIterator<Item = sqlite_files::Change>) {
    for change in changes {
        warn!(log, "state file permissions"; "path" => change.path.display().to_string(),
            "change" => change.what, "mode_before" => change.mode);
    }
}

impl Store {
    /// Connects, runs the migrations, and makes sure the table's epoch exists. SQLite's
    /// files are made private before the first connection and checked again after the
    /// migrations (which create the `-wal` and `-shm` files).
    pub(crate) async fn open(config: &Config, log: &Logger) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let url = database_url(config, log)?;
        make_sqlite_private(&url, log)?;
        // One plain connection first: its error says why (refused, auth, no such database)
        // where the pool would only report a timeout.
        let timeout = config.db.acquire_timeout;
        let probe = tokio::time::timeout(timeout, sqlx::AnyConnection::connect(&url))
            .await
            .map_err(|e| {
                StoreError::unavailable_because(format!("no connection within {timeout:?}"), e)
            })??;
        probe.close().await?;
        let pool = AnyPoolOptions::new()
            .max_connections(config.db.max_open)
            .min_connections(config.db.max_idle)
            .max_lifetime(config.db.max_lifetime)
            .idle_timeout(Some(Duration::from_secs(300)))
            .acquire_timeout(config.db.acquire_timeout)
            .connect(&url)
            .await?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::other_because(format!("migrations failed: {e}"), e))?;
        make_sqlite_private(&url, log)?;
        let epoch = uuid::Uuid::new_v4().simple().to_string();
        sqlx::query(
            "INSERT INTO table_meta (id, epoch, version) VALUES (1, $1, 0) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(epoch)
        .execute(&pool)
        .await?;
        Ok(Self {
            pool,
            gateway_domain: config.server_domain.clone(),
        })
    }

    /// Whether the database answers now (for `/readyz`).
    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Connections open, idle, and the pool's maximum, for `/metrics`.
    pub(crate) fn pool_stats(&self) -> (u32, usize, u32) {
        (
            self.pool.size(),
            self.pool.num_idle(),
            self.pool.options().get_max_connections(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_codes() {
        for code in [
            "08006", "57P01", "55000", "53300", "3D000", "5", "517", "14",
        ] {
            assert!(unavailable_code(Some(code)), "{code}");
        }
        for code in ["23505", "42601", "19", "2067", "1"] {
            assert!(!unavailable_code(Some(code)), "{code}");
        }
        assert!(!unavailable_code(None));
    }
}
