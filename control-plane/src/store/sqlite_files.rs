//! The embedded SQLite database's files readable by the control-plane's user only (the
//! database holds the ACME account key, certificate private keys and key hashes). Before
//! SQLite opens it, `hopgate.db` is created empty with mode `0600` (SQLite gives its
//! `-wal` and `-shm` files the database file's mode, whatever the umask) and any of the
//! three left looser by an older version is tightened. The state directory is made `0700`;
//! the directory of a file named by `HOP_DB_DSN` is the operator's and is not changed.

use std::{
    io,
    path::{Path, PathBuf},
};

use hopgate_private_files::{
    DirState, FileState, ensure_private_dir, ensure_private_file, tighten_private_file,
};

/// A permission change worth a log line.
#[derive(Debug)]
pub(crate) struct Change {
    pub(crate) path: PathBuf,
    pub(crate) what: &'static str,
    /// The mode before (octal digits).
    pub(crate) mode: String,
}

impl Change {
    fn new(path: &Path, what: &'static str, mode: u32) -> Self {
        Self {
            path: path.to_owned(),
            what,
            mode: format!("{mode:04o}"),
        }
    }
}

/// Creates the state directory `dir` (`0700`) or tightens it.
pub(crate) fn prepare_state_dir(dir: &Path) -> io::Result<Option<Change>> {
    Ok(match ensure_private_dir(dir)? {
        DirState::Created | DirState::Private => None,
        DirState::Tightened { was } => Some(Change::new(dir, "directory tightened to 0700", was)),
        DirState::LeftOpen { mode } => Some(Change::new(
            dir,
            "directory left open to other users (shared or not ours); its files are 0600",
            mode,
        )),
    })
}

/// The database file a `sqlite:` URL names, and whether SQLite may create it (`mode=rwc`);
/// `None` for anything else.
pub(crate) fn database_file(url: &str) -> Option<(PathBuf, bool)> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path.contains(":memory:") || query.contains("mode=memory") {
        return None;
    }
    Some((PathBuf::from(path), query.contains("mode=rwc")))
}

/// Makes `db` and its `-wal`/`-shm`/`-journal` files `0600`, creating `db` empty first if `create`.
pub(crate) fn make_private(db: &Path, create: bool) -> io::Result<Vec<Change>> {
    let mut changes = Vec::new();
    if create {
        note(&mut changes, db, ensure_private_file(db)?);
    }
    for path in [
        db.to_owned(),
        companion(db, "-wal"),
        companion(db, "-shm"),
        companion(db, "-journal"),
    ] {
        if let Some(state) = tighten_private_file(&path)? {
            note(&mut changes, &path, state);
        }
    }
    Ok(changes)
}

fn note(changes: &mut Vec<Change>, path: &Path, state: FileState) {
    match state {
        FileState::Tightened { was } => {
            changes.push(Change::new(path, "file tightened to 0600", was));
        }
        FileState::Link => changes.push(Change {
            path: path.to_owned(),
            what: "a symbolic link: SQLite follows it; its target's mode is not checked",
            mode: String::new(),
        }),
        FileState::Created | FileState::Private => {}
    }
}

/// `hopgate.db` → `hopgate.db-wal`.
fn companion(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_file_from_urls() {
        assert_eq!(
            database_file("sqlite:///var/lib/h/hopgate.db?mode=rwc"),
            Some((PathBuf::from("/var/lib/h/hopgate.db"), true))
        );
        assert_eq!(
            database_file("sqlite://state/hopgate.db?mode=rw"),
            Some((PathBuf::from("state/hopgate.db"), false))
        );
        assert_eq!(
            database_file("sqlite:h.db"),
            Some((PathBuf::from("h.db"), false))
        );
        assert_eq!(database_file("sqlite::memory:"), None);
        assert_eq!(database_file("sqlite://x.db?mode=memory"), None);
        assert_eq!(database_file("postgres://u@h/db"), None);
    }

    #[test]
    fn companions() {
        assert_eq!(
            companion(Path::new("/s/hopgate.db"), "-wal"),
            PathBuf::from("/s/hopgate.db-wal")
        );
    }
}
