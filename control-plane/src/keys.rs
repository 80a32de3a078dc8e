//! Client API keys: 256 random bits shown once as 64 lowercase hex characters, stored only
//! as the hex of their SHA-256 (they are high-entropy, so a fast hash is right), and
//! compared in constant time.

use subtle::ConstantTimeEq;

/// A fresh key from the thread-local CSPRNG (ChaCha, seeded from the OS).
pub(crate) fn generate() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// The stored hex hash as bytes, for the table.
pub(crate) fn parse_hash(stored: &str) -> Option<[u8; 32]> {
    let mut out = [0; 32];
    hex::decode_to_slice(stored, &mut out).ok()?;
    Some(out)
}

/// Whether `presented` is the key behind `stored` (hex hash), in constant time.
pub(crate) fn matches(stored: &str, presented: &str) -> bool {
    parse_hash(stored).is_some_and(|h| bool::from(hopgate_table::hash_key(presented).ct_eq(&h)))
}

/// Constant-time comparison of two secrets (bearer tokens).
pub(crate) fn secrets_equal(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the database stores for `key`: hex of SHA-256 over its UTF-8 bytes.
    fn hash_hex(key: &str) -> String {
        hex::encode(hopgate_table::hash_key(key))
    }

    #[test]
    fn keys_are_64_hex_and_hash_round_trips() {
        let key = generate();
        assert_eq!(key.len(), 64);
        assert!(
            key.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_ne!(key, generate());
        let stored = hash_hex(&key);
        assert_eq!(stored.len(), 64);
        assert!(matches(&stored, &key));
        assert!(!matches(&stored, &generate()));
        assert!(!matches("not hex", &key));
        // The well-known SHA-256 of "abc".
        assert_eq!(
            hash_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn secrets_compare() {
        assert!(secrets_equal("abc", "abc"));
        assert!(!secrets_equal("abc", "abd"));
        assert!(!secrets_equal("abc", "abcd"));
    }
}
