//! [`Credential`]: a user and a salted hash of its password, the form in which Basic
//! credentials are stored and pushed to the pods (the password itself is kept nowhere).
//!
//! The hash is SHA-256 over a 16-byte random salt (one per credential) followed by the
//! password's UTF-8 bytes. A fast hash is a choice: a gateway checks the credentials of
//! every request, so a slow one (Argon2, bcrypt) would cost each request tens of
//! milliseconds and hand anyone who sends wrong passwords a way to burn the pod's CPU.
//! The salt makes precomputed tables useless and every credential its own target; what
//! protects a weak password from an offline guess is keeping the table secret (it
//! travels only over the authenticated internal listener and sits in files only the
//! gateway may read). docs/security/access-control.md says more.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Bytes of salt per credential.
pub const SALT_LEN: usize = 16;

/// A user and the salted hash of its password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    pub user: String,
    #[serde(with = "serde_bytes")]
    pub salt: [u8; SALT_LEN],
    /// SHA-256(salt ‖ password).
    #[serde(with = "serde_bytes")]
    pub hash: [u8; 32],
}

impl Credential {
    /// The credential for `user` with `password`, hashed with `salt` (fresh random bytes
    /// for every credential).
    pub fn new(user: &str, password: &str, salt: [u8; SALT_LEN]) -> Self {
        Self {
            user: user.to_owned(),
            salt,
            hash: salted_hash(&salt, password.as_bytes()),
        }
    }

    /// Whether `password` is this credential's, compared in constant time.
    pub fn accepts(&self, password: &[u8]) -> bool {
        bool::from(salted_hash(&self.salt, password).ct_eq(&self.hash))
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("user", &self.user)
            .field("hash", &"***")
            .finish_non_exhaustive()
    }
}

/// SHA-256(salt ‖ password).
fn salted_hash(salt: &[u8; SALT_LEN], password: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(password);
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_password_is_accepted_and_the_salt_matters() {
        let one = Credential::new("alice", "correct horse", [1; SALT_LEN]);
        assert!(one.accepts(b"correct horse"));
        assert!(!one.accepts(b"correct horsE"));
        assert!(!one.accepts(b""));
        let other_salt = Credential::new("alice", "correct horse", [2; SALT_LEN]);
        assert_ne!(one.hash, other_salt.hash);
        assert!(other_salt.accepts(b"correct horse"));
    }

    #[test]
    fn debug_shows_the_user_only() {
        let shown = format!("{:?}", Credential::new("alice", "secret", [7; SALT_LEN]));
        assert!(shown.contains("alice"), "{shown}");
        assert!(!shown.contains("salt") && !shown.contains("[7"), "{shown}");
    }
}
