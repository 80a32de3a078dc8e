//! Deterministic test bodies and their digests.

use bytes::Bytes;
use sha2::{Digest, Sha256};

/// A deterministic 64 KiB block.
pub fn pattern_block(seed: u8) -> Bytes {
    (0..64 * 1024)
        .map(|i: usize| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect::<Vec<u8>>()
        .into()
}

/// `len` bytes of the pattern, as pieces of `piece` bytes.
pub fn pattern_pieces(len: u64, seed: u8, piece: usize) -> impl Iterator<Item = Bytes> {
    let block = pattern_block(seed);
    let mut offset = 0u64;
    std::iter::from_fn(move || {
        if offset >= len {
            return None;
        }
        let start = (offset % block.len() as u64) as usize;
        let n = piece.min(block.len() - start).min((len - offset) as usize);
        offset += n as u64;
        Some(block.slice(start..start + n))
    })
}

pub fn pattern_sha256(len: u64, seed: u8) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for piece in pattern_pieces(len, seed, 64 * 1024) {
        hasher.update(&piece);
    }
    hasher.finalize().into()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
