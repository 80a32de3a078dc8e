//! The pod's state directory stays private (the table snapshot carries certificate private
//! keys in production; debug mode keeps its certificate's key there): the directory `0700`,
//! every file `0600`, and a symbolic link planted at a name the pod writes is never written
//! through. A debug pod (in-process) here; a pod subscribed to a control-plane on SQLite (whose
//! state directory is checked too) in `e2e/tests/state_files.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{DataPlane, InProcess, TempDir};
use hopgate_test_support::{LinkTarget, assert_private_dir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_pod_keeps_its_key_private() {
    let victim = LinkTarget::new();
    let state = Arc::new(TempDir::new("dp"));
    victim.plant(&state.0, "debug-key.pem");
    let dp = DataPlane::in_process_in(&["a.test"], &[], state.clone());

    victim.assert_untouched();
    let files = assert_private_dir(&state.0);
    assert_eq!(files, ["debug-cert.pem", "debug-key.pem"]);
    let key = std::fs::read_to_string(state.0.join("debug-key.pem")).unwrap();
    assert!(key.contains("PRIVATE KEY"));
    drop(dp);
}
