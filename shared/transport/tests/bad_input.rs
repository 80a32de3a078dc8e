//! Bad input gets a clear error, the offending session is dropped, and nobody else notices.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{sync::Arc, time::Duration};

use bytes::BytesMut;
use common::*;
use hopgate_protocol::{Decoder, Encoder, Frame, Hello, check_version};
use hopgate_transport::{Listener, ServerConfig, Session, SessionError, TransportConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What a gateway does with a session's first frame: decode it under the protocol's limits
/// and close the session with the reason if it is bad.
async fn gate(session: Session) {
    let Ok((_send, mut recv)) = session.accept_stream().await else {
        return;
    };
    let decoder = Decoder::default();
    let mut buf = BytesMut::new();
    loop {
        match decoder.decode(&mut buf) {
            Ok(Some(Frame::Hello(hello))) => {
                if let Err(err) = check_version(hello.protocol_version) {
                    session.close(&err.to_string());
                }
                return;
            }
            Ok(Some(other)) => {
                session.close(&format!("expected a hello, got {:?}", other.frame_type()));
                return;
            }
            Ok(None) => {}
            Err(err) => {
                session.close(&format!("bad frame: {err}"));
                return;
            }
        }
        let mut chunk = [0u8; 4096];
        match recv.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

async fn send_raw_and_get_reason(
    addr: std::net::SocketAddr,
    config: &hopgate_transport::ClientConfig,
    bytes: Vec<u8>,
) -> String {
    let session = connect(addr, config).await;
    let (mut send, _recv) = session.open_stream().await.unwrap();
    send.write_all(&bytes).await.unwrap();
    match tokio::time::timeout(Duration::from_secs(5), session.closed())
        .await
        .unwrap()
    {
        SessionError::ClosedByPeer(reason) => reason,
        other => panic!("expected the gateway to close the session, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_close_only_the_offending_session() {
    let id = identity();
    let listener = bind_listener(&id, TransportConfig::default());
    let gate_listener = listener.clone();
    let config = client_config(&id, TransportConfig::default());
    let addr = listener.local_addr();

    // A well-behaved session on the same listener, served by the echo service.
    let good_listener = bind_listener(&id, TransportConfig::default());
    serve_hashing(good_listener.clone());
    let good = connect(good_listener.local_addr(), &config).await;

    tokio::spawn(async move {
        while let Some(session) = gate_listener.accept().await {
            tokio::spawn(gate(session));
        }
    });

    // Unknown frame type.
    let reason = send_raw_and_get_reason(addr, &config, vec![0xee, 0, 0, 0, 1, 0]).await;
    assert!(reason.contains("bad frame"), "{reason}");
    // A frame over the size limit (declared 1 GiB hello).
    let reason = send_raw_and_get_reason(addr, &config, vec![0x01, 0x40, 0, 0, 0]).await;
    assert!(reason.contains("bad frame"), "{reason}");
    // A hello from an agent speaking a protocol version we don't.
    let mut hello = Hello::new("app.example.com", "k".repeat(64), "hopgate-agent/0.0.1");
    hello.protocol_version = 0;
    let mut frame = BytesMut::new();
    Encoder::default()
        .encode(&Frame::Hello(hello), &mut frame)
        .unwrap();
    let reason = send_raw_and_get_reason(addr, &config, frame.to_vec()).await;
    assert!(reason.contains("please upgrade"), "{reason}");

    // The other session never noticed.
    exchange(&good, 1024, 1024, 3).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_abandoned_handshakes_leave_no_state() {
    let id = identity();
    let transport = TransportConfig {
        handshake_timeout: Duration::from_secs(1),
        ..TransportConfig::default()
    };
    let mut config = ServerConfig::new(id.clone());
    config.transport = transport.clone();
    config.dtls_handshake_timeout = Duration::from_secs(1);
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let listener = Arc::new(Listener::bind(socket, config).unwrap());
    serve_hashing(listener.clone());
    let good = connect(listener.local_addr(), &client_config(&id, transport)).await;

    let attacker = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    // Garbage, and an application-data record for a session that doesn't exist.
    for i in 0..100u8 {
        attacker.send_to(&[i; 300], listener.local_addr()).unwrap();
        attacker
            .send_to(
                &[23, 254, 253, 0, 1, 0, 0, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4],
                listener.local_addr(),
            )
            .unwrap();
    }
    // Empty datagrams: no record at all.
    for _ in 0..10 {
        attacker.send_to(&[], listener.local_addr()).unwrap();
    }
    // A ClientHello-shaped record that isn't one.
    let mut hello = vec![0u8; 120];
    hello[0] = 22;
    hello[1..3].copy_from_slice(&[254, 253]);
    hello[13] = 1;
    hello[27..59].copy_from_slice(&[9u8; 32]);
    attacker.send_to(&hello, listener.local_addr()).unwrap();
    // A refused handshake: a client that returns the cookie, then refuses the server's
    // certificate, sends a fatal alert and a close_notify, and goes silent.
    let impostor = identity();
    let refused = hopgate_transport::connect(
        listener.local_addr(),
        &client_config(&impostor, TransportConfig::default()),
    )
    .await;
    assert!(refused.is_err());

    // Every stray datagram is counted as the listener reads it. The application-data
    // records come from the good session's IP: taken for a moved peer, they are refused
    // unread (an old sequence number) and move nothing.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let stats = listener.stats();
        if stats.unsolicited_dropped >= 101
            && stats.migrations_stale >= 100
            && stats.empty_dropped == 10
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{stats:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(listener.stats().migrations_moved, 0);
    // The good session is unaffected, and the half-open attempt is gone: its close_notify
    // ends it (each datagram is read on its own, so the alert before it does not hide it).
    exchange(&good, 4096, 4096, 5).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        let stats = listener.stats();
        if stats.dtls_associations == 1 && stats.dtls_handshaking == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "half-open handshake kept: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // ... and its fatal alert counted, so an operator can see agents that fail their
    // handshake. (Attempts that go silent expire and are counted too: the DTLS table's
    // unit tests.)
    assert!(
        listener.stats().handshake_records_refused >= 1,
        "{stats:?}",
        stats = listener.stats()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_pinned_fingerprint_is_a_clear_error() {
    let id = identity();
    let listener = bind_listener(&id, TransportConfig::default());
    let impostor = identity();
    let err = hopgate_transport::connect(
        listener.local_addr(),
        &client_config(&impostor, TransportConfig::default()),
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("fingerprint") && text.contains("does not match"),
        "{text}"
    );
}
