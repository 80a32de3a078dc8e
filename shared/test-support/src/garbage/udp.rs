//! Garbage datagrams: random bytes and truncated DTLS records (every content type, epoch-0
//! handshakes cut short of a whole ClientHello), from several source ports, and a count of
//! what came back; and a well-formed ClientHello record ([`client_hello`]) for tests that
//! knock on a DTLS port themselves.

use std::{net::SocketAddr, time::Duration};

use rand::{Rng, rngs::StdRng};
use tokio::net::UdpSocket;

use super::rng_for;

/// DTLS's application-data content type: no garbage may ever get one back.
const APPLICATION_DATA: u8 = 23;

/// One datagram attack on one UDP listener.
pub struct UdpGarbage {
    pub target: SocketAddr,
    /// Datagrams in all, spread over `sources` source ports.
    pub datagrams: usize,
    pub sources: usize,
    /// How long to keep listening for answers after the last datagram.
    pub listen: Duration,
}

/// What a [`UdpGarbage`] run saw.
#[derive(Debug, Default)]
pub struct UdpReport {
    pub sent: usize,
    /// Datagrams that came back, by their first byte (the DTLS content type).
    pub replies: Vec<u8>,
}

impl UdpReport {
    /// Asserts nothing but handshake messages or alerts came back (no application data).
    pub fn assert_refused(&self) {
        assert!(
            !self.replies.contains(&APPLICATION_DATA),
            "garbage datagrams got application data back: content types {:?}",
            self.replies
        );
    }
}

impl UdpGarbage {
    /// 2,000 datagrams from 16 source ports, listening 500 ms for answers.
    pub fn new(target: SocketAddr) -> Self {
        Self {
            target,
            datagrams: 2_000,
            sources: 16,
            listen: Duration::from_millis(500),
        }
    }

    pub async fn run(self, seed: u64) -> UdpReport {
        let mut report = UdpReport::default();
        let mut sockets = Vec::new();
        for _ in 0..self.sources.max(1) {
            sockets.push(UdpSocket::bind("127.0.0.1:0").await.expect("a UDP socket"));
        }
        let mut rng = rng_for(seed, 0);
        for i in 0..self.datagrams {
            let datagram = datagram(&mut rng);
            let socket = &sockets[i % sockets.len()];
            if socket.send_to(&datagram, self.target).await.is_ok() {
                report.sent += 1;
            }
            if i % 64 == 63 {
                // Let the listener breathe: this is garbage, not a flood.
                tokio::task::yield_now().await;
                drain(&sockets, &mut report.replies);
            }
        }
        // Answers to garbage have no end marker: listening for a while is the point.
        tokio::time::sleep(self.listen).await;
        drain(&sockets, &mut report.replies);
        report
    }
}

/// Collects what has arrived on `sockets` so far.
fn drain(sockets: &[UdpSocket], replies: &mut Vec<u8>) {
    let mut buf = vec![0u8; 65_536];
    for socket in sockets {
        while let Ok((n, _)) = socket.try_recv_from(&mut buf) {
            replies.push(if n > 0 { buf[0] } else { 0 });
        }
    }
}

/// Random bytes, or a DTLS record header claiming more than follows.
fn datagram(rng: &mut StdRng) -> Vec<u8> {
    if rng.random_bool(0.5) {
        let mut bytes = vec![0u8; rng.random_range(1..=1_400)];
        rng.fill(&mut bytes[..]);
        return bytes;
    }
    let content_type = rng.random_range(20..=25);
    let epoch: u16 = if rng.random_bool(0.5) {
        0
    } else {
        rng.random()
    };
    let claimed: u16 = rng.random_range(1..=16_384);
    let mut record = vec![content_type, 0xfe, 0xfd];
    record.extend_from_slice(&epoch.to_be_bytes());
    let mut sequence = [0u8; 6];
    rng.fill(&mut sequence);
    record.extend_from_slice(&sequence);
    record.extend_from_slice(&claimed.to_be_bytes());
    // A handshake record starts like a ClientHello, but stops short of a whole one.
    if content_type == 22 {
        record.push(1);
    }
    let body = rng.random_range(0..usize::from(claimed).min(45));
    let start = record.len();
    record.resize(start + body, 0);
    rng.fill(&mut record[start..]);
    record
}

/// A well-formed DTLS 1.2 ClientHello record (one cipher suite, no session id) with
/// `random` and `cookie` (empty: the first flight of a handshake).
pub fn client_hello(random: [u8; 32], cookie: &[u8]) -> Vec<u8> {
    let mut body = vec![0xfe, 0xfd];
    body.extend_from_slice(&random);
    body.push(0); // no session id
    body.push(u8::try_from(cookie.len()).expect("a cookie of at most 255 bytes"));
    body.extend_from_slice(cookie);
    body.extend_from_slice(&[0, 2, 0xc0, 0x2b, 1, 0]); // one suite, null compression
    let len = u32::try_from(body.len()).unwrap().to_be_bytes();
    let mut record = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0];
    record.extend_from_slice(&u16::try_from(12 + body.len()).unwrap().to_be_bytes());
    record.push(1);
    record.extend_from_slice(&len[1..]);
    record.extend_from_slice(&[0, 0, 0, 0, 0]);
    record.extend_from_slice(&len[1..]);
    record.extend_from_slice(&body);
    record
}
