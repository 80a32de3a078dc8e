//! `handshake_flood`: DTLS 1.2 ClientHellos from 127.0.0.2, each from a new source port
//! (a new association for the pod), 5,000 a second, at most 100,000; never a second flight.

use std::time::Duration;

use rand::Rng;
use tokio::net::UdpSocket;

use super::Context;

const MAX_HELLOS: usize = 100_000;
const PER_BATCH: usize = 500;
const BATCH_PAUSE: Duration = Duration::from_millis(100);
/// Once this many went out, the pod's table of handshakes is as full as it gets.
const READY_AFTER: usize = 5_000;

pub(super) async fn run(context: Context) -> anyhow::Result<String> {
    let mut ready = Some(context.ready);
    let mut sent = 0;
    while sent < MAX_HELLOS && !context.stop.now() {
        for _ in 0..PER_BATCH {
            let socket = UdpSocket::bind("127.0.0.2:0").await?;
            if socket.send_to(&client_hello(), context.dtls).await.is_ok() {
                sent += 1;
            }
        }
        if sent >= READY_AFTER
            && let Some(ready) = ready.take()
        {
            let _ = ready.send(());
        }
        tokio::time::sleep(BATCH_PAUSE).await;
    }
    Ok(format!("{sent} ClientHellos sent"))
}

/// A minimal, well-formed DTLS 1.2 ClientHello with a fresh random (69 bytes).
fn client_hello() -> Vec<u8> {
    let mut body = vec![0xfe, 0xfd];
    let mut random = [0u8; 32];
    rand::rng().fill(&mut random);
    body.extend_from_slice(&random);
    body.extend_from_slice(&[0, 0]); // no session id, no cookie
    body.extend_from_slice(&[0, 2, 0xc0, 0x2b]); // TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    body.extend_from_slice(&[1, 0]); // null compression
    body.extend_from_slice(&[0, 0]); // no extensions
    let len = u8::try_from(body.len()).unwrap_or(u8::MAX);
    let mut handshake = vec![1, 0, 0, len, 0, 0, 0, 0, 0, 0, 0, len];
    handshake.extend_from_slice(&body);
    let record_len = u16::try_from(handshake.len()).unwrap_or(u16::MAX);
    let mut record = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0];
    record.extend_from_slice(&record_len.to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}
