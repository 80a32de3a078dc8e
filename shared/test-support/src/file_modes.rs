//! File modes of a state directory, for tests that a service keeps its secrets private,
//! and a file a planted symbolic link points to, which the service must never write.

use std::{
    fs,
    os::unix::fs::{PermissionsExt, symlink},
    path::{Path, PathBuf},
};

use crate::TempDir;

/// A `0644` file outside the state directory, the target of links planted in it.
pub struct LinkTarget {
    _dir: TempDir,
    path: PathBuf,
}

const UNTOUCHED: &[u8] = b"not for the service to write";

impl LinkTarget {
    pub fn new() -> Self {
        let dir = TempDir::new("link-target");
        let path = dir.0.join("victim");
        fs::write(&path, UNTOUCHED).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        Self { _dir: dir, path }
    }

    /// Makes `dir/name` a symbolic link to this file.
    pub fn plant(&self, dir: &Path, name: &str) {
        symlink(&self.path, dir.join(name)).unwrap();
    }

    /// Asserts the file's content and mode are as they were.
    pub fn assert_untouched(&self) {
        assert_eq!(
            fs::read(&self.path).unwrap(),
            UNTOUCHED,
            "the service wrote through a planted link"
        );
        assert_eq!(mode_of(&self.path), 0o644, "the link's target was changed");
    }
}

impl Default for LinkTarget {
    fn default() -> Self {
        Self::new()
    }
}

/// The permission bits of `path` (not following a final symbolic link).
pub fn mode_of(path: &Path) -> u32 {
    fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// Asserts that `dir` is `0700` and every regular file in it `0600`; returns the names of
/// the files checked, sorted. Symbolic links (a test's planted ones) and files removed
/// while the directory is read are skipped.
pub fn assert_private_dir(dir: &Path) -> Vec<String> {
    let mode = mode_of(dir);
    assert_eq!(
        mode,
        0o700,
        "{} is {mode:04o}; it must be 0700 (only its owner may list it)",
        dir.display()
    );
    let mut checked = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let mode = meta.permissions().mode() & 0o7777;
        assert_eq!(
            mode,
            0o600,
            "{} is {mode:04o}; it must be 0600 (it may hold secrets)",
            path.display()
        );
        checked.push(entry.file_name().to_string_lossy().into_owned());
    }
    checked.sort();
    checked
}

/// Gives `dir` mode `0755` and its regular files `0644`: what an older version left.
pub fn loosen_dir(dir: &Path) {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            fs::set_permissions(entry.path(), fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
}
