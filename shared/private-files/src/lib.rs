//! `hopgate-private-files`: how HopGate keeps secrets on disk. Certificate private keys,
//! the routing-table snapshot (which carries them in production) and the control-plane's
//! embedded database are readable by the service's own user only, whatever the umask.
//!
//! Layout:
//! - `dir`: [`ensure_private_dir`] creates a state directory `0700`, or tightens an
//!   existing one that others can enter, and says which it did so the caller can log it.
//! - `file`: [`write_private`] replaces a file atomically with a `0600` one (a temporary
//!   file with a random name, created exclusively without following links, fsynced, then
//!   renamed over the target); [`ensure_private_file`] creates an empty `0600` file for a
//!   program that opens it itself (SQLite), or tightens the one that is there;
//!   [`tighten_private_file`] only tightens (SQLite's `-wal` and `-shm` files).
//!
//! ```
//! # let dir = std::env::temp_dir().join(format!("hopgate-doc-{}", std::process::id()));
//! use std::os::unix::fs::PermissionsExt;
//!
//! hopgate_private_files::ensure_private_dir(&dir)?;
//! hopgate_private_files::write_private(&dir.join("key.pem"), b"secret")?;
//! let mode = std::fs::metadata(dir.join("key.pem"))?.permissions().mode();
//! assert_eq!(mode & 0o777, 0o600);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), std::io::Error>(())
//! ```

#![warn(missing_docs)]

mod dir;
mod file;

pub use self::{
    dir::{DirState, ensure_private_dir},
    file::{FileState, ensure_private_file, tighten_private_file, write_private},
};

/// The mode of every file that holds a secret: read and write for the owner only.
pub const FILE_MODE: u32 = 0o600;

/// The mode of a directory that holds such files: only the owner may list or enter it.
pub const DIR_MODE: u32 = 0o700;

/// The permission bits that let anyone but the owner in.
const OTHERS: u32 = 0o077;
