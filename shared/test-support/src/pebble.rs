//! A private Pebble per test: `scripts/pebble.sh` starts it and pebble-challtestsrv on free
//! loopback ports (validation on, 5 % nonce rejection on), HTTP-01 validation reaching
//! 127.0.0.1:`http_port`; dropping the handle stops both.

use std::{collections::HashMap, path::PathBuf, process::Command};

use crate::TempDir;

/// A running Pebble and its DNS server.
pub struct Pebble {
    /// The directory URL (`HOP_ACME_DIR`).
    pub dir: String,
    /// Trusts Pebble's own HTTPS (`HOP_ACME_CA_ROOT`).
    pub ca: PathBuf,
    /// The root issued certificates chain to.
    pub root: PathBuf,
    /// Where Pebble's files and log live.
    pub work: TempDir,
    pids: Vec<String>,
}

impl Pebble {
    /// Starts one that validates HTTP-01 challenges on 127.0.0.1:`http_port`.
    pub fn start(http_port: u16) -> Self {
        let work = TempDir::new("pebble");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/pebble.sh");
        let out = Command::new(script)
            .arg(http_port.to_string())
            .arg(&work.0)
            .output()
            .expect("scripts/pebble.sh runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "scripts/pebble.sh failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let vars: HashMap<&str, &str> = stdout
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k, v.trim_matches('"')))
            .collect();
        Self {
            dir: vars["PEBBLE_DIR"].to_owned(),
            ca: vars["PEBBLE_CA"].into(),
            root: vars["PEBBLE_ROOT"].into(),
            pids: vars["PEBBLE_PIDS"]
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            work,
        }
    }

    /// The control-plane's settings for ordering from this Pebble for the gateway's main
    /// domain `gateway` (fast retries, for tests).
    pub fn control_plane_env(&self, gateway: &str) -> Vec<(String, String)> {
        [
            ("HOP_ACME_DIR", self.dir.clone()),
            ("HOP_ACME_CA_ROOT", self.ca.display().to_string()),
            ("HOP_ACME_EMAIL", "ops@hopgate.test".to_owned()),
            ("HOP_SERVER_DOMAIN", gateway.to_owned()),
            ("HOP_ACME_RETRY_MIN", "1s".to_owned()),
            ("HOP_ACME_RETRY_MAX", "2s".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Pebble's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.work.0.join("pebble.log")).unwrap_or_default()
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for pid in &self.pids {
            let _ = Command::new("kill").arg(pid).status();
        }
    }
}
