//! The pod's state directory (`HOP_SERVER_STATE_DIR`: the table snapshot, which carries
//! certificate private keys in production, and the debug certificate and key): made
//! private before anything is written to it. New files are written `0600` by
//! `hopgate-private-files`; files an older version left readable by others are tightened.

use std::path::Path;

use hopgate_private_files::{DirState, FileState, ensure_private_dir, tighten_private_file};
use slog::{Logger, info, warn};

use crate::certs::{DEBUG_CERT_FILE, DEBUG_KEY_FILE};

/// The files the pod keeps in its state directory.
const STATE_FILES: [&str; 3] = [
    hopgate_table_client::SNAPSHOT_FILE,
    DEBUG_CERT_FILE,
    DEBUG_KEY_FILE,
];

/// Creates `dir` with mode `0700`, or tightens an existing one and its files, logging
/// what changed.
pub(crate) fn prepare(dir: &Path, log: &Logger) -> std::io::Result<()> {
    let path = dir.display().to_string();
    match ensure_private_dir(dir)? {
        DirState::Private => {}
        DirState::Created => info!(log, "state directory created"; "path" => path),
        DirState::Tightened { was } => warn!(log,
            "state directory was open to other users; tightened to 0700";
            "path" => path, "mode_before" => format!("{was:04o}")),
        DirState::LeftOpen { mode } => warn!(log,
            "state directory is open to other users and cannot be tightened (shared or \
             not ours); its files are 0600; a subdirectory of it would be 0700";
            "path" => path, "mode" => format!("{mode:04o}")),
    }
    for name in STATE_FILES {
        let file = dir.join(name);
        let path = file.display().to_string();
        match tighten_private_file(&file)? {
            Some(FileState::Tightened { was }) => warn!(log,
                "state file was readable by other users; tightened to 0600";
                "path" => path, "mode_before" => format!("{was:04o}")),
            Some(FileState::Link) => warn!(log,
                "state file is a symbolic link: never written through (a write replaces the link)";
                "path" => path),
            _ => {}
        }
    }
    Ok(())
}
