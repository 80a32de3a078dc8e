//! A session whose set-up runs out of time says which step did not finish: nothing answering
//! the DTLS handshake (UDP blocked), a TCP peer that never speaks TLS, or a path that carries
//! DTLS's handshake but not the stream layer's larger packets.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use hopgate_lossy_relay::{Impairment, RelayConfig};
use hopgate_transport::{ConnectError, SetupStage, TransportConfig};

const LIMIT: Duration = Duration::from_millis(1500);

fn quick() -> TransportConfig {
    TransportConfig {
        handshake_timeout: LIMIT,
        ..TransportConfig::default()
    }
}

fn stage_of(err: &ConnectError) -> SetupStage {
    match err {
        ConnectError::Timeout { stage, .. } => *stage,
        other => panic!("expected a timeout, got {other}"),
    }
}

#[tokio::test]
async fn a_silent_udp_port_is_a_dtls_handshake_that_did_not_finish() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let config = client_config(&identity(), quick());
    let Err(err) = hopgate_transport::connect(silent.local_addr().unwrap(), &config).await else {
        panic!("nothing answers");
    };
    assert_eq!(stage_of(&err), SetupStage::Dtls);
    assert!(err.is_unanswered());
    let message = err.to_string();
    assert!(
        message.contains("DTLS handshake did not finish"),
        "{message}"
    );
    assert!(message.contains("1500 ms"), "{message}");
}

#[tokio::test]
async fn a_tcp_peer_that_never_speaks_tls_is_a_tls_handshake_that_did_not_finish() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mute = tokio::spawn(async move {
        let (conn, _) = listener.accept().await.unwrap();
        tokio::time::sleep(LIMIT * 2).await;
        drop(conn);
    });
    let config = client_config(&identity(), quick());
    let Err(err) = hopgate_transport::connect_tcp(addr, &config).await else {
        panic!("the peer never answers");
    };
    assert_eq!(stage_of(&err), SetupStage::Tls);
    assert!(err.is_unanswered());
    assert!(
        err.to_string().contains("TLS handshake did not finish"),
        "{err}"
    );
    mute.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_too_narrow_for_the_stream_layer_stops_after_dtls() {
    let id = identity();
    let listener = bind_listener(&id, quick());
    serve_hashing(listener.clone());
    let relay = hopgate_lossy_relay::start(RelayConfig::symmetric(
        listener.local_addr(),
        Impairment::NONE,
        7,
    ))
    .await
    .unwrap();
    // DTLS's handshake fits; the stream layer's first packets (at least 1,200 bytes, as
    // QUIC requires) do not.
    relay.set_mtu(Some(1100));
    let Err(err) =
        hopgate_transport::connect(relay.local_addr(), &client_config(&id, quick())).await
    else {
        panic!("the stream layer cannot get through");
    };
    assert_eq!(stage_of(&err), SetupStage::Streams, "{err}");
    assert!(!err.is_unanswered(), "the gateway answered DTLS: {err}");
    assert!(
        err.to_string()
            .contains("stream layer's handshake did not finish"),
        "{err}"
    );
}
