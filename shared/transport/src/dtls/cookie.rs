//! Stateless DTLS cookies (RFC 6347 §4.2.1), and how rtc-dtls is made to accept them.
//!
//! # The cookie
//! A cookie is HMAC-SHA256, cut to [`COOKIE_LEN`] bytes, over the client's address (IP and
//! port) and the serial number of the current key. Keys are random per process and rotate
//! every [`KEY_LIFETIME`]; the previous key still verifies, so a cookie lives one to two
//! lifetimes. Issuing and checking one allocates nothing per client: a flood of ClientHellos
//! from spoofed addresses costs the gateway one small datagram each and no memory.
//!
//! # Handing a verified client to rtc-dtls
//! rtc-dtls always runs its own cookie exchange: a server association starts at its first
//! flight, answers the first ClientHello with a HelloVerifyRequest carrying a cookie drawn
//! from its crypto provider's random source, and then accepts only a ClientHello that echoes
//! that cookie. Its handshake transcript keeps the last ClientHello it received byte for byte,
//! so the hello cannot be rewritten without breaking the Finished check. Instead the table
//! creates the association only once a ClientHello returns a valid cookie, and replays the
//! exchange the library expects:
//! 1. it plants the client's (already verified) cookie in [`CookieSeed`], the random source
//!    of the server's crypto provider, which hands it out for the next cookie-sized draw;
//! 2. it feeds the association a copy of the hello as the client's first hello
//!    (message_seq 0); rtc-dtls draws its cookie (ours, from the seed) and answers with a
//!    HelloVerifyRequest equal to the one the client already has, which is discarded;
//! 3. it feeds the real hello, which now carries exactly the cookie the library issued.
//!
//! The table checks that the seed was consumed and that the library's HelloVerifyRequest
//! carries the planted cookie; if a change in rtc-dtls ever broke either, admission fails
//! closed (the handshake is refused), it never falls back to unverified state. The table
//! runs under one lock, so nothing else draws from the seed between planting and feeding.

use std::{
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use hmac::{Hmac, Mac};
use rtc_dtls::crypto_provider::{CryptoError, RTCCrypto, RTCCryptoProvider, RTCRandom};
use sha2::Sha256;

/// Length of a cookie: the length rtc-dtls draws for its own.
pub(crate) const COOKIE_LEN: usize = 20;
/// How long one key issues cookies.
pub(crate) const KEY_LIFETIME: Duration = Duration::from_secs(30);

pub(crate) type Cookie = [u8; COOKIE_LEN];

struct Key {
    secret: [u8; 32],
    serial: u64,
}

/// Issues and checks cookies; its keys rotate with the time it is handed.
pub(crate) struct CookieJar {
    current: Key,
    previous: Option<Key>,
    rotated_at: Instant,
    random: Arc<dyn RTCCryptoProvider>,
}

impl CookieJar {
    pub(crate) fn new(now: Instant, random: Arc<dyn RTCCryptoProvider>) -> Self {
        Self {
            current: Key {
                secret: fresh_secret(random.as_ref()),
                serial: 0,
            },
            previous: None,
            rotated_at: now,
            random,
        }
    }

    /// Starts a new key once the current one has served its time.
    pub(crate) fn rotate_if_due(&mut self, now: Instant) {
        if now.duration_since(self.rotated_at) < KEY_LIFETIME {
            return;
        }
        let next = Key {
            secret: fresh_secret(self.random.as_ref()),
            serial: self.current.serial + 1,
        };
        self.previous = Some(std::mem::replace(&mut self.current, next));
        self.rotated_at = now;
    }

    /// The cookie `client` must echo.
    pub(crate) fn issue(&mut self, now: Instant, client: SocketAddr) -> Cookie {
        self.rotate_if_due(now);
        let tag = mac(&self.current, client).finalize().into_bytes();
        let mut cookie = [0; COOKIE_LEN];
        cookie.copy_from_slice(&tag[..COOKIE_LEN]);
        cookie
    }

    /// Whether `cookie` was issued to `client` by the current or the previous key; compared
    /// in constant time.
    pub(crate) fn verify(&mut self, now: Instant, client: SocketAddr, cookie: &[u8]) -> bool {
        self.rotate_if_due(now);
        if cookie.len() != COOKIE_LEN {
            return false;
        }
        let by = |key: &Key| mac(key, client).verify_truncated_left(cookie).is_ok();
        // Both keys are always tried, so the time taken does not say which one matched.
        let current = by(&self.current);
        let previous = self.previous.as_ref().is_some_and(by);
        current | previous
    }
}

fn fresh_secret(provider: &dyn RTCCryptoProvider) -> [u8; 32] {
    let mut secret = [0; 32];
    if provider.random().fill(&mut secret).is_err() {
        // The system's random source failed: nothing secure can run, and a predictable key
        // would let anyone forge cookies.
        panic!("no randomness for the DTLS cookie key");
    }
    secret
}

fn mac(key: &Key, client: SocketAddr) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key.secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(&key.serial.to_be_bytes());
    match client.ip() {
        IpAddr::V4(ip) => mac.update(&ip.to_ipv6_mapped().octets()),
        IpAddr::V6(ip) => mac.update(&ip.octets()),
    }
    mac.update(&client.port().to_be_bytes());
    mac
}

/// The cookie the next association will draw as its own (see the module docs).
#[derive(Clone, Default)]
pub(crate) struct CookieSeed(Arc<Mutex<Option<Cookie>>>);

impl CookieSeed {
    /// The next cookie-sized draw of the provider returns `cookie`.
    pub(crate) fn plant(&self, cookie: Cookie) {
        *self.slot() = Some(cookie);
    }

    /// Takes back a cookie nobody drew; `None` if it was drawn.
    pub(crate) fn take_undrawn(&self) -> Option<Cookie> {
        self.slot().take()
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Cookie>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `inner` with its random source replaced by one that serves this seed first.
    pub(crate) fn provider(&self, inner: Arc<dyn RTCCryptoProvider>) -> Arc<dyn RTCCryptoProvider> {
        Arc::new(SeededProvider {
            random: SeededRandom {
                seed: self.clone(),
                inner: inner.clone(),
            },
            inner,
        })
    }
}

struct SeededProvider {
    inner: Arc<dyn RTCCryptoProvider>,
    random: SeededRandom,
}

impl RTCCryptoProvider for SeededProvider {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn crypto(&self) -> &dyn RTCCrypto {
        self.inner.crypto()
    }

    fn random(&self) -> &dyn RTCRandom {
        &self.random
    }
}

struct SeededRandom {
    seed: CookieSeed,
    inner: Arc<dyn RTCCryptoProvider>,
}

impl RTCRandom for SeededRandom {
    fn fill(&self, output: &mut [u8]) -> Result<(), CryptoError> {
        if output.len() == COOKIE_LEN
            && let Some(cookie) = self.seed.slot().take()
        {
            output.copy_from_slice(&cookie);
            return Ok(());
        }
        self.inner.random().fill(output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jar(now: Instant) -> CookieJar {
        CookieJar::new(now, rtc_dtls::crypto_provider::default_provider().unwrap())
    }

    const CLIENT: SocketAddr = SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 4000);

    #[test]
    fn a_cookie_verifies_for_its_address_only() {
        let now = Instant::now();
        let mut jar = jar(now);
        let cookie = jar.issue(now, CLIENT);
        assert!(jar.verify(now, CLIENT, &cookie));
        let other_port = SocketAddr::new(CLIENT.ip(), 4001);
        assert!(!jar.verify(now, other_port, &cookie));
        let other_ip = "127.0.0.2:4000".parse().unwrap();
        assert!(!jar.verify(now, other_ip, &cookie));
        let mut forged = cookie;
        forged[0] ^= 1;
        assert!(!jar.verify(now, CLIENT, &forged));
        assert!(!jar.verify(now, CLIENT, &cookie[..19]));
        assert!(!jar.verify(now, CLIENT, &[]));
    }

    #[test]
    fn cookies_expire_after_two_key_lifetimes() {
        let start = Instant::now();
        let mut jar = jar(start);
        let cookie = jar.issue(start, CLIENT);
        assert!(jar.verify(start + KEY_LIFETIME, CLIENT, &cookie));
        assert!(!jar.verify(start + KEY_LIFETIME * 2, CLIENT, &cookie));
    }

    #[test]
    fn keys_differ_per_process() {
        let now = Instant::now();
        assert_ne!(jar(now).issue(now, CLIENT), jar(now).issue(now, CLIENT));
    }

    #[test]
    fn the_seed_serves_one_cookie_sized_draw() {
        let seed = CookieSeed::default();
        let provider = seed.provider(rtc_dtls::crypto_provider::default_provider().unwrap());
        seed.plant([5; COOKIE_LEN]);
        let mut other = [0u8; 28];
        provider.random().fill(&mut other).unwrap();
        let mut cookie = [0u8; COOKIE_LEN];
        provider.random().fill(&mut cookie).unwrap();
        assert_eq!(cookie, [5; COOKIE_LEN]);
        provider.random().fill(&mut cookie).unwrap();
        assert_ne!(cookie, [5; COOKIE_LEN]);
        assert_eq!(seed.take_undrawn(), None);
    }
}
