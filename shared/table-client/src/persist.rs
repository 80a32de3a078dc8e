//! The last table on disk, so a pod that starts while the control-plane is unreachable can
//! serve. The file holds one table frame (`hopgate_table::Encoder`) with a complete
//! snapshot. It is replaced atomically and is readable by this user only
//! (`hopgate-private-files`): a fresh `0600` temporary file, fsynced, renamed over the old
//! one, and the directory fsynced.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use bytes::BytesMut;
use hopgate_table::{
    ApplyError, DecodeError, Decoder, EncodeError, Encoder, Snapshot, Table, TableMessage,
};

/// The snapshot file's name inside the state directory.
pub const SNAPSHOT_FILE: &str = "table.snapshot";

/// Why the snapshot file couldn't be read or written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PersistError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: {source}")]
    Invalid {
        path: PathBuf,
        #[source]
        source: InvalidSnapshot,
    },
}

/// What is wrong with a snapshot, in the file or about to be written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InvalidSnapshot {
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("truncated")]
    Truncated,
    #[error("trailing bytes")]
    TrailingBytes,
    #[error("not a complete snapshot")]
    Incomplete,
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> PersistError + '_ {
    move |source| PersistError::Io {
        path: path.to_owned(),
        source,
    }
}

fn invalid(path: &Path) -> impl FnOnce(InvalidSnapshot) -> PersistError + '_ {
    move |source| PersistError::Invalid {
        path: path.to_owned(),
        source,
    }
}

/// Saves a loaded table to `path`; an unloaded table is not written. The file is replaced
/// atomically and readable by this user only (the snapshot carries certificate private
/// keys): see [`hopgate_private_files::write_private`].
pub(crate) fn save(path: &Path, table: &Table) -> Result<(), PersistError> {
    let Some(snapshot) = table.to_snapshot() else {
        return Ok(());
    };
    let bytes = encode(snapshot).map_err(invalid(path))?;
    hopgate_private_files::write_private(path, &bytes).map_err(io_error(path))
}

fn encode(snapshot: Snapshot) -> Result<BytesMut, InvalidSnapshot> {
    let mut bytes = BytesMut::new();
    Encoder::default().encode(&TableMessage::Snapshot(snapshot), &mut bytes)?;
    Ok(bytes)
}

/// Loads the table saved at `path`; `Ok(None)` if there is no file.
pub(crate) fn load(path: &Path) -> Result<Option<Table>, PersistError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path)(e)),
    };
    decode(bytes).map(Some).map_err(invalid(path))
}

fn decode(bytes: Vec<u8>) -> Result<Table, InvalidSnapshot> {
    let mut bytes = BytesMut::from(&bytes[..]);
    let message = Decoder::default()
        .decode(&mut bytes)?
        .ok_or(InvalidSnapshot::Truncated)?;
    if !bytes.is_empty() {
        return Err(InvalidSnapshot::TrailingBytes);
    }
    match message {
        TableMessage::Snapshot(s) if !s.more => {
            let mut table = Table::new();
            table.apply(TableMessage::Snapshot(s))?;
            Ok(table)
        }
        _ => Err(InvalidSnapshot::Incomplete),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use hopgate_table::{Change, Delta, DomainRecord, hash_key};

    use super::*;

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
            access: None,
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
