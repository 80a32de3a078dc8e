//! The pod's state directory stays private (the table snapshot carries certificate private
//! keys in production; debug mode keeps its certificate's key there): the directory `0700`,
//! every file `0600`, and a symbolic link planted at a name the pod writes is never written
//! through. Real processes: a debug pod alone, and a pod subscribed to a control-plane on
//! SQLite (whose state directory is checked too).

mod common;

use std::{
    os::unix::fs::{PermissionsExt, symlink},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use common::{DataPlane, TempDir, control_plane::ControlPlane};
use hopgate_test_support::{assert_private_dir, mode_of};

/// A file outside the state directory that a planted link points to.
struct Victim {
    _dir: TempDir,
    path: PathBuf,
}

const UNTOUCHED: &[u8] = b"not for the data-plane to write";

impl Victim {
    fn new() -> Self {
        let dir = TempDir::new("victim");
        let path = dir.0.join("victim");
        std::fs::write(&path, UNTOUCHED).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        Self { _dir: dir, path }
    }

    /// Plants a link to this file at `name` in `dir`.
    fn plant(&self, dir: &Path, name: &str) {
        symlink(&self.path, dir.join(name)).unwrap();
    }

    fn assert_untouched(&self) {
        assert_eq!(
            std::fs::read(&self.path).unwrap(),
            UNTOUCHED,
            "the pod wrote through a planted link"
        );
        assert_eq!(mode_of(&self.path), 0o644, "the link's target was changed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_pod_keeps_its_key_private() {
    let victim = Victim::new();
    let state = Arc::new(TempDir::new("dp"));
    victim.plant(&state.0, "debug-key.pem");
    let dp = DataPlane::start_in(&["a.test"], &[], state.clone());

    victim.assert_untouched();
    let files = assert_private_dir(&state.0);
    assert_eq!(files, ["debug-cert.pem", "debug-key.pem"]);
    let key = std::fs::read_to_string(state.0.join("debug-key.pem")).unwrap();
    assert!(key.contains("PRIVATE KEY"));
    drop(dp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribed_pod_keeps_the_snapshot_private() {
    let cp = ControlPlane::start();
    cp.register("a.test").await;
    let victim = Victim::new();
    let state = Arc::new(TempDir::new("dp"));
    // The name an older version used for the snapshot's temporary file.
    victim.plant(&state.0, ".table.snapshot.tmp");
    let dp = DataPlane::subscribed(&cp, "pod-a", state.clone());

    let snapshot = state.0.join("table.snapshot");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !snapshot.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no snapshot written"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    victim.assert_untouched();
    let mut files = assert_private_dir(&state.0);
    // A later snapshot may be on its way (its temporary file is 0600 too).
    files.retain(|f| !f.ends_with(".tmp"));
    assert_eq!(files, ["debug-cert.pem", "debug-key.pem", "table.snapshot"]);
    let cp_files = assert_private_dir(&cp.state.0);
    assert!(cp_files.iter().any(|f| f == "hopgate.db"), "{cp_files:?}");
    drop(dp);
}
