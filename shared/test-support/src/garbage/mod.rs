//! Hostile input for any listener, for the `hostile_*` tests: connections that send random
//! bytes, truncated TLS records, truncated or oversized HTTP heads, half-closed and silent
//! connections and a slowloris ([`tcp`]), and datagrams of random bytes and truncated DTLS
//! records ([`udp`]). Everything is drawn from a seeded RNG: [`seed`] prints the seed, and
//! `HOP_TEST_SEED=<seed>` replays a run.

pub mod tcp;
pub mod udp;

use rand::{SeedableRng, rngs::StdRng};

/// The seed for this run: `HOP_TEST_SEED` if set, else a random one. Printed either way, so
/// a failing run can be replayed.
pub fn seed() -> u64 {
    let seed = std::env::var("HOP_TEST_SEED")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("garbage seed {seed} (replay with HOP_TEST_SEED={seed})");
    seed
}

/// The RNG of the `index`th connection or datagram batch of a run seeded with `seed`.
fn rng_for(seed: u64, index: u64) -> StdRng {
    StdRng::seed_from_u64(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Whether `answer` is an HTTP/1.x success (2xx) status line.
pub fn is_success(answer: &[u8]) -> bool {
    answer.starts_with(b"HTTP/1.") && answer.get(9) == Some(&b'2')
}

/// The first line of `answer`, for messages.
pub fn first_line(answer: &[u8]) -> String {
    let end = answer
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(answer.len())
        .min(120);
    String::from_utf8_lossy(&answer[..end])
        .trim_end()
        .to_owned()
}
