//! A directory under the system's temporary directory, removed on drop.

use std::{path::PathBuf, time::Duration};

/// A directory removed on drop; `tag` makes its name say which test made it.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "hopgate-{tag}-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).expect("creating a temporary directory");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // A process or task that just stopped may still be writing (a table subscriber's
        // last snapshot): retry briefly.
        for _ in 0..20 {
            if std::fs::remove_dir_all(&self.0).is_ok() || !self.0.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}
