//! The embedded SQLite database stays private on disk (it holds the ACME account key,
//! certificate private keys and key hashes): its directory `0700`, the database and its
//! journal files (`-wal`, `-shm`, `-journal`) `0600`, whatever the umask, and files an older version left open
//! are tightened at start.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ControlPlane, Database};
use hopgate_test_support::{assert_private_dir, loosen_dir};

fn state_dir(db: &Database) -> std::path::PathBuf {
    match db {
        Database::Sqlite { state } => state.0.clone(),
        Database::Postgres { .. } => unreachable!("SQLite only"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_files_are_private() {
    let db = Database::sqlite();
    let dir = state_dir(&db);
    // The test's directory was made with the umask's mode (0755): the control-plane must
    // tighten it.
    let mut cp = ControlPlane::start(&db, &[]);
    cp.api().register("a.example.com").await;
    let files = assert_private_dir(&dir);
    assert!(files.iter().any(|f| f == "hopgate.db"), "{files:?}");

    // A database left readable by an older version (killed: -wal and -shm stay).
    cp.kill();
    loosen_dir(&dir);
    cp.restart();
    cp.api().register("b.example.com").await;
    assert_private_dir(&dir);
    assert!(
        cp.log_text().contains("tightened"),
        "the tightening is logged"
    );
}
