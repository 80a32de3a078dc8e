//! A pod subscribed to a control-plane (on SQLite) keeps its state directory private: the
//! table snapshot (certificate private keys in production) `0600` in a `0700` directory, a
//! symbolic link planted at the snapshot's temporary name never written through; the
//! control-plane's directory likewise.

use std::{sync::Arc, time::Duration};

use hopgate_e2e::*;
use hopgate_test_support::{LinkTarget, assert_private_dir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribed_pod_keeps_the_snapshot_private() {
    let cp = ControlPlane::start();
    cp.register("a.test").await;
    let victim = LinkTarget::new();
    let state = Arc::new(TempDir::new("dp"));
    // The name an older version used for the snapshot's temporary file.
    victim.plant(&state.0, ".table.snapshot.tmp");
    let dp = DataPlane::subscribed(&cp, "pod-a", state.clone());

    let snapshot = state.0.join("table.snapshot");
    poll_until(
        "the snapshot is written",
        Duration::from_secs(20),
        || async { snapshot.exists() },
    )
    .await;
    victim.assert_untouched();
    let mut files = assert_private_dir(&state.0);
    // A later snapshot may be on its way (its temporary file is 0600 too).
    files.retain(|f| !f.ends_with(".tmp"));
    assert_eq!(files, ["debug-cert.pem", "debug-key.pem", "table.snapshot"]);
    let cp_files = assert_private_dir(&cp.state.0);
    assert!(cp_files.iter().any(|f| f == "hopgate.db"), "{cp_files:?}");
    drop(dp);
}
