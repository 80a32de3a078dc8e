//! The databases under test: a SQLite file in a temporary state directory (the embedded
//! default, no DSN), or a fresh Postgres database `hopgate_test_<random>` on
//! 127.0.0.1:5432, dropped afterwards.

use sqlx::{AnyConnection, Connection, Row, postgres::PgConnection};

use super::TempDir;

/// Where the server for these tests runs (trust auth, database `test` exists).
pub const POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub enum Database {
    Sqlite { state: TempDir },
    Postgres { name: String, state: TempDir },
}

impl Database {
    pub fn sqlite() -> Self {
        Self::Sqlite {
            state: TempDir::new("sqlite"),
        }
    }

    pub async fn postgres() -> Self {
        let name = format!("hopgate_test_{:016x}", rand::random::<u64>());
        let mut conn = PgConnection::connect(POSTGRES_ADMIN_URL)
            .await
            .expect("Postgres at 127.0.0.1:5432 (trust auth, database `test`)");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        Self::Postgres {
            name,
            state: TempDir::new("pg"),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sqlite { .. } => "sqlite",
            Self::Postgres { .. } => "postgres",
        }
    }

    /// The settings that point the control-plane here.
    pub fn env(&self) -> Vec<(String, String)> {
        match self {
            Self::Sqlite { state } => {
                vec![("HOP_SERVER_STATE_DIR".into(), state.0.display().to_string())]
            }
            Self::Postgres { state, .. } => vec![
                ("HOP_DB_DSN".into(), self.url()),
                ("HOP_SERVER_STATE_DIR".into(), state.0.display().to_string()),
            ],
        }
    }

    pub fn url(&self) -> String {
        match self {
            Self::Sqlite { state } => format!("sqlite://{}", state.0.join("hopgate.db").display()),
            Self::Postgres { name, .. } => format!("postgres://postgres@127.0.0.1:5432/{name}"),
        }
    }

    /// Runs `sql` on the Postgres server as the superuser (`{db}` = this database's name).
    pub async fn pg_admin(&self, sql: &str) {
        let Self::Postgres { name, .. } = self else {
            panic!("not Postgres")
        };
        let mut conn = PgConnection::connect(POSTGRES_ADMIN_URL).await.unwrap();
        sqlx::query(&sql.replace("{db}", name))
            .execute(&mut conn)
            .await
            .unwrap();
    }

    /// A direct connection to the control-plane's database.
    pub async fn connect(&self) -> AnyConnection {
        sqlx::any::install_default_drivers();
        AnyConnection::connect(&self.url()).await.unwrap()
    }

    /// Every text value stored in the control-plane's tables, and (SQLite) the raw bytes of
    /// its files: where a plaintext key or password must never appear.
    pub async fn everything_stored(&self) -> String {
        let mut conn = self.connect().await;
        let mut out = String::new();
        let rows = sqlx::query(
            "SELECT id, domain, memo, key_hash, COALESCE(access_policy, '') FROM domains",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        for row in rows {
            for i in 0..5 {
                out.push_str(&row.get::<String, _>(i));
                out.push('\n');
            }
        }
        let rows = sqlx::query("SELECT domain, op FROM table_changes")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        for row in rows {
            out.push_str(&format!(
                "{} {}\n",
                row.get::<String, _>(0),
                row.get::<String, _>(1)
            ));
        }
        if let Self::Sqlite { state } = self {
            for entry in std::fs::read_dir(&state.0).unwrap() {
                let bytes = std::fs::read(entry.unwrap().path()).unwrap_or_default();
                out.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
        out
    }

    /// `table_meta.version` and the number of change-log rows.
    pub async fn version_and_changes(&self) -> (i64, i64) {
        let mut conn = self.connect().await;
        let version: i64 = sqlx::query_scalar("SELECT version FROM table_meta")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        let changes: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM table_changes")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        (version, changes)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let Self::Postgres { name, .. } = self else {
            return;
        };
        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        // Drop runs outside any runtime: a small one of its own, on its own thread.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(POSTGRES_ADMIN_URL).await {
                    let _ = sqlx::query(&sql).execute(&mut conn).await;
                }
            });
        })
        .join();
    }
}
