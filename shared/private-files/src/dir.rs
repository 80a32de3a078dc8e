//! State directories: created `0700`; an existing one that others may enter is tightened,
//! unless it is a shared sticky directory such as `/tmp` (never changed) or belongs to
//! someone else (the change is refused). Either way its files stay `0600`.

use std::{
    fs::{self, DirBuilder, Permissions},
    io,
    os::unix::fs::{DirBuilderExt, PermissionsExt},
    path::Path,
};

use crate::{DIR_MODE, OTHERS};

/// The sticky bit: a directory many users share (`/tmp`).
const STICKY: u32 = 0o1000;

/// What [`ensure_private_dir`] found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirState {
    /// It was missing and now exists with mode `0700`.
    Created,
    /// It existed and only its owner could enter it.
    Private,
    /// It existed with the looser mode `was` and is now `0700`.
    Tightened {
        /// The mode it had (permission bits).
        was: u32,
    },
    /// It stays open to others: a shared sticky directory, or one whose mode this user
    /// may not change (e.g. a volume mounted for a group). Files in it are still `0600`.
    LeftOpen {
        /// Its mode (permission bits).
        mode: u32,
    },
}

/// Makes sure `path` is a directory only its owner can enter (see [`DirState`]); missing
/// parents are created `0700` too. A symbolic link to a directory is followed.
pub fn ensure_private_dir(path: &Path) -> io::Result<DirState> {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return create(path),
        Err(e) => return Err(e),
    };
    if !meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            format!("{} is not a directory", path.display()),
        ));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & OTHERS == 0 {
        return Ok(DirState::Private);
    }
    if mode & STICKY != 0 {
        return Ok(DirState::LeftOpen { mode });
    }
    match fs::set_permissions(path, Permissions::from_mode(DIR_MODE)) {
        Ok(()) => Ok(DirState::Tightened { was: mode }),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Ok(DirState::LeftOpen { mode }),
        Err(e) => Err(e),
    }
}

fn create(path: &Path) -> io::Result<DirState> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)?;
    // The umask may have taken bits away; set exactly 0700.
    fs::set_permissions(path, Permissions::from_mode(DIR_MODE))?;
    Ok(DirState::Created)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::tests::TestDir;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn creates_missing_directories_0700() {
        let root = TestDir::new();
        let path = root.0.join("a/b");
        assert_eq!(ensure_private_dir(&path).unwrap(), DirState::Created);
        assert_eq!(mode(&path), 0o700);
        assert_eq!(mode(&root.0.join("a")), 0o700);
        assert_eq!(ensure_private_dir(&path).unwrap(), DirState::Private);
    }

    #[test]
    fn tightens_an_open_directory() {
        let root = TestDir::new();
        fs::set_permissions(&root.0, Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            ensure_private_dir(&root.0).unwrap(),
            DirState::Tightened { was: 0o755 }
        );
        assert_eq!(mode(&root.0), 0o700);
    }

    #[test]
    fn leaves_a_sticky_shared_directory_alone() {
        let root = TestDir::new();
        fs::set_permissions(&root.0, Permissions::from_mode(0o1777)).unwrap();
        assert_eq!(
            ensure_private_dir(&root.0).unwrap(),
            DirState::LeftOpen { mode: 0o1777 }
        );
        assert_eq!(mode(&root.0), 0o1777);
    }

    #[test]
    fn refuses_a_file() {
        let root = TestDir::new();
        let path = root.0.join("file");
        fs::write(&path, b"").unwrap();
        assert!(ensure_private_dir(&path).is_err());
    }
}
