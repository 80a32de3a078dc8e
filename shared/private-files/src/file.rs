//! Secret files: written whole into a fresh `0600` file beside the target and renamed over
//! it, so a reader sees the old file or the new one, never a part, and a crash leaves the
//! old one. The temporary name is random and created exclusively without following
//! links: a link planted in the directory is never written through.

use std::{
    fs::{self, File, OpenOptions, Permissions},
    io::{self, Write},
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use crate::{FILE_MODE, OTHERS};

/// How many random temporary names are tried before giving up.
const TEMP_NAME_ATTEMPTS: usize = 8;

/// What [`ensure_private_file`] found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileState {
    /// It was missing and now exists, empty, with mode `0600`.
    Created,
    /// It existed and only its owner could read it.
    Private,
    /// It existed with the looser mode `was` and is now `0600`.
    Tightened {
        /// The mode it had (permission bits).
        was: u32,
    },
    /// It is a symbolic link: neither it nor what it points to was changed.
    Link,
}

/// Replaces `path` with a `0600` file holding `bytes`: a temporary file in the same
/// directory (random name, `O_CREAT|O_EXCL|O_NOFOLLOW`), fsynced, renamed over `path`,
/// then the directory fsynced so the rename survives a crash. If `path` is a symbolic
/// link, the link is replaced, not the file it points to.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = parent(path);
    let (temp, mut file) = create_temp(dir, path)?;
    let written = fill(&mut file, bytes).and_then(|()| fs::rename(&temp, path));
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written?;
    File::open(dir)?.sync_all()
}

/// Makes sure `path` is a file only its owner can read: created empty with mode `0600` if
/// missing (exclusively, without following a link), tightened to `0600` if others could
/// read or write it. For files another program opens by name (the SQLite database). A
/// symbolic link is reported, not followed.
pub fn ensure_private_file(path: &Path) -> io::Result<FileState> {
    match create_exclusive(path) {
        Ok(_) => Ok(FileState::Created),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => tighten(path),
        Err(e) => Err(e),
    }
}

/// Tightens `path` to `0600` if it exists (see [`ensure_private_file`]); `None` if not.
pub fn tighten_private_file(path: &Path) -> io::Result<Option<FileState>> {
    match tighten(path) {
        Ok(state) => Ok(Some(state)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn tighten(path: &Path) -> io::Result<FileState> {
    let meta = fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Ok(FileState::Link);
    }
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a regular file", path.display()),
        ));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & OTHERS == 0 {
        return Ok(FileState::Private);
    }
    fs::set_permissions(path, Permissions::from_mode(FILE_MODE))?;
    Ok(FileState::Tightened { was: mode })
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// A new temporary file beside `target`: `.<name>.<16 random hex>.tmp`.
fn create_temp(dir: &Path, target: &Path) -> io::Result<(PathBuf, File)> {
    let name = target
        .file_name()
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} names no file", target.display()),
            )
        })?
        .to_string_lossy();
    for _ in 0..TEMP_NAME_ATTEMPTS {
        let temp = dir.join(format!(".{name}.{:016x}.tmp", rand::random::<u64>()));
        match create_exclusive(&temp) {
            Ok(file) => return Ok((temp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("no free temporary name in {}", dir.display()),
    ))
}

/// Creates `path` with mode `0600` whatever the umask; fails if anything (a file, a
/// dangling or live symbolic link) is already there.
fn create_exclusive(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    file.set_permissions(Permissions::from_mode(FILE_MODE))?;
    Ok(file)
}

fn fill(file: &mut File, bytes: &[u8]) -> io::Result<()> {
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
pub(crate) mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    /// A fresh directory under the system's temporary directory, removed on drop.
    pub(crate) struct TestDir(pub(crate) PathBuf);

    impl TestDir {
        pub(crate) fn new() -> Self {
            let dir = std::env::temp_dir().join(format!(
                "hopgate-private-files-{}-{:016x}",
                std::process::id(),
                rand::random::<u64>()
            ));
            fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for TestDir {
        fn drop(&mut self) {
            let _ = fs::set_permissions(&self.0, Permissions::from_mode(0o700));
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn writes_0600_and_replaces_whole() {
        let dir = TestDir::new();
        let path = dir.0.join("key.pem");
        fs::write(&path, b"old").unwrap();
        fs::set_permissions(&path, Permissions::from_mode(0o644)).unwrap();
        write_private(&path, b"new secret").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new secret");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(names(&dir.0), ["key.pem"], "no temporary file is left");
    }

    #[test]
    fn replaces_a_planted_link_instead_of_writing_through_it() {
        let dir = TestDir::new();
        let victim = dir.0.join("victim");
        fs::write(&victim, b"untouched").unwrap();
        let path = dir.0.join("key.pem");
        symlink(&victim, &path).unwrap();
        write_private(&path, b"secret").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"untouched");
        assert!(
            !fs::symlink_metadata(&path)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&path).unwrap(), b"secret");
    }

    #[test]
    fn exclusive_creation_refuses_links_and_files() {
        let dir = TestDir::new();
        let victim = dir.0.join("victim");
        fs::write(&victim, b"untouched").unwrap();
        let link = dir.0.join("link");
        symlink(&victim, &link).unwrap();
        let dangling = dir.0.join("dangling");
        symlink(dir.0.join("nowhere"), &dangling).unwrap();
        for path in [&victim, &link, &dangling] {
            let err = create_exclusive(path).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "{path:?}");
        }
        assert_eq!(fs::read(&victim).unwrap(), b"untouched");
        assert!(!dir.0.join("nowhere").exists());
    }

    #[test]
    fn ensure_creates_empty_then_tightens() {
        let dir = TestDir::new();
        let path = dir.0.join("hopgate.db");
        assert_eq!(ensure_private_file(&path).unwrap(), FileState::Created);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(fs::metadata(&path).unwrap().len(), 0);
        assert_eq!(ensure_private_file(&path).unwrap(), FileState::Private);
        fs::set_permissions(&path, Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            ensure_private_file(&path).unwrap(),
            FileState::Tightened { was: 0o644 }
        );
        assert_eq!(mode(&path), 0o600);
        assert_eq!(
            tighten_private_file(&dir.0.join("hopgate.db-wal")).unwrap(),
            None
        );
    }

    #[test]
    fn tightening_leaves_links_and_their_targets_alone() {
        let dir = TestDir::new();
        let victim = dir.0.join("victim");
        fs::write(&victim, b"untouched").unwrap();
        fs::set_permissions(&victim, Permissions::from_mode(0o644)).unwrap();
        let link = dir.0.join("debug-key.pem");
        symlink(&victim, &link).unwrap();
        assert_eq!(ensure_private_file(&link).unwrap(), FileState::Link);
        assert_eq!(tighten_private_file(&link).unwrap(), Some(FileState::Link));
        assert_eq!(mode(&victim), 0o644);
    }
}
