//! File modes of a state directory, for tests that a service keeps its secrets private.

use std::{fs, os::unix::fs::PermissionsExt, path::Path};

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
