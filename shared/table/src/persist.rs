//! The last table on disk, so a pod that starts while the control-plane is unreachable can
//! serve. The file holds one frame (see `frame`) with a complete snapshot. It is replaced
//! atomically and is readable by this user only (`hopgate-private-files`): a fresh `0600`
//! temporary file, fsynced, renamed over the old one, and the directory fsynced.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use crate::{
    frame::{self, Decoder},
    table::Table,
    wire::{Snapshot, TableMessage},
};

/// The snapshot file's name inside the state directory.
pub const SNAPSHOT_FILE: &str = "table.snapshot";

/// Why the snapshot file couldn't be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> PersistError + '_ {
    move |source| PersistError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Encodes `snapshot` as the file's bytes.
pub fn encode_snapshot(snapshot: Snapshot) -> Result<Vec<u8>, frame::EncodeError> {
    frame::encode(&TableMessage::Snapshot(snapshot))
}

/// Writes `bytes` to `path` atomically, readable by this user only (the snapshot carries
/// certificate private keys): see [`hopgate_private_files::write_private`].
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), PersistError> {
    hopgate_private_files::write_private(path, bytes).map_err(io_error(path))
}

/// Saves a loaded table to `path`; an unloaded table is not written.
pub fn save(path: &Path, table: &Table) -> Result<(), PersistError> {
    let Some(snapshot) = table.to_snapshot() else {
        return Ok(());
    };
    let bytes = encode_snapshot(snapshot).map_err(|e| PersistError::Invalid {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    write_atomically(path, &bytes)
}

/// Loads the table saved at `path`; `Ok(None)` if there is no file.
pub fn load(path: &Path) -> Result<Option<Table>, PersistError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path)(e)),
    };
    let invalid = |reason: String| PersistError::Invalid {
        path: path.to_owned(),
        reason,
    };
    let mut decoder = Decoder::new();
    decoder.push(&bytes);
    let message = decoder
        .next_message()
        .map_err(|e| invalid(e.to_string()))?
        .ok_or_else(|| invalid("truncated".into()))?;
    if decoder.buffered() != 0 {
        return Err(invalid("trailing bytes".into()));
    }
    match message {
        TableMessage::Snapshot(s) if !s.more => {
            let mut table = Table::new();
            table
                .apply(TableMessage::Snapshot(s))
                .map_err(|e| invalid(e.to_string()))?;
            Ok(Some(table))
        }
        _ => Err(invalid("not a complete snapshot".into())),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::{
        table::hash_key,
        wire::{Change, Delta, DomainRecord},
    };

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hopgate-table-{}", rand::random::<u64>()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn file_round_trip() {
        let dir = temp_dir();
        let path = dir.join(SNAPSHOT_FILE);
        assert!(load(&path).unwrap().is_none());
        save(&path, &Table::new()).unwrap();
        assert!(!path.exists(), "an unloaded table is not written");

        let mut table = Table::new();
        let record = DomainRecord {
            domain: "a.test".into(),
            key_hash: hash_key("k"),
            certificate: None,
        };
        table
            .apply(TableMessage::Snapshot(Snapshot {
                epoch: "e".into(),
                version: 1,
                ..Snapshot::default()
            }))
            .unwrap();
        table
            .apply(TableMessage::Delta(Delta {
                version: 2,
                changes: vec![Change::Upsert(record.clone())],
                committed_unix_ms: None,
            }))
            .unwrap();
        save(&path, &table).unwrap();
        let loaded = load(&path).unwrap().unwrap();
        assert_eq!(loaded.since().unwrap().to_string(), "e:2");
        assert_eq!(loaded.get("a.test"), Some(&record));
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [SNAPSHOT_FILE], "no temporary file is left");
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the snapshot carries private keys");

        fs::write(&path, b"\0\0\0\x02ab").unwrap();
        assert!(matches!(load(&path), Err(PersistError::Invalid { .. })));
        fs::remove_dir_all(dir).unwrap();
    }
}
