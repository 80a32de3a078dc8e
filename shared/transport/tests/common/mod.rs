//! Helpers shared by the transport's integration tests: a gateway on port 0 that echoes.

#![allow(dead_code, unreachable_pub)]

pub mod tcp;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use hopgate_transport::{
    ClientConfig, Identity, Listener, ServerConfig, ServerVerification, Session, TransportConfig,
};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub fn identity() -> Identity {
    Identity::self_signed(&["gw.hopgate.test".into()]).unwrap()
}

pub fn bind_listener(identity: &Identity, transport: TransportConfig) -> Arc<Listener> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut config = ServerConfig::new(identity.clone());
    config.transport = transport;
    Arc::new(Listener::bind(socket, config).unwrap())
}

pub fn client_config(identity: &Identity, transport: TransportConfig) -> ClientConfig {
    let mut config = ClientConfig::new(
        "gw.hopgate.test",
        ServerVerification::Pinned(identity.fingerprint()),
    );
    config.transport = transport;
    config
}

/// Serves every stream of every session: reads the peer's bytes to EOF while writing back
/// `reply_len` bytes of a deterministic pattern, then writes the SHA-256 of what it read.
pub fn serve_hashing(listener: Arc<Listener>) {
    tokio::spawn(async move {
        while let Some(session) = listener.accept().await {
            tokio::spawn(serve_session(session));
        }
    });
}

async fn serve_session(session: Session) {
    session.lift_pre_hello_limits();
    while let Ok((mut send, mut recv)) = session.accept_stream().await {
        tokio::spawn(async move {
            // Header: 8 bytes, how much to send back.
            let reply_len = recv.read_u64().await?;
            let writer = async {
                write_pattern(&mut send, reply_len, 7).await?;
                std::io::Result::Ok(send)
            };
            let reader = async {
                let digest = read_hashing(&mut recv).await?;
                std::io::Result::Ok(digest)
            };
            let (send, digest) = tokio::try_join!(writer, reader)?;
            let mut send = send;
            send.write_all(&digest.0).await?;
            send.finish().ok();
            let _ = send.stopped().await;
            std::io::Result::Ok(())
        });
    }
}

pub struct Digest32(pub [u8; 32], pub u64);

pub async fn read_hashing(recv: &mut (impl AsyncReadExt + Unpin)) -> std::io::Result<Digest32> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = recv.read(&mut buf).await?;
        if n == 0 {
            return Ok(Digest32(hasher.finalize().into(), total));
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
}

pub fn pattern_block(seed: u8) -> Vec<u8> {
    (0..64 * 1024)
        .map(|i: usize| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

pub async fn write_pattern(
    send: &mut (impl AsyncWriteExt + Unpin),
    len: u64,
    seed: u8,
) -> std::io::Result<()> {
    let block = pattern_block(seed);
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        send.write_all(&block[..n]).await?;
        left -= n as u64;
    }
    Ok(())
}

pub fn pattern_digest(len: u64, seed: u8) -> [u8; 32] {
    let block = pattern_block(seed);
    let mut hasher = Sha256::new();
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        hasher.update(&block[..n]);
        left -= n as u64;
    }
    hasher.finalize().into()
}

/// One exchange on a fresh stream: send `up` bytes, receive `down` bytes, check both digests.
pub async fn exchange(session: &Session, up: u64, down: u64, seed: u8) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let (mut send, mut recv) = session.open_stream().await.context("opening a stream")?;
    send.write_u64(down).await.context("writing the header")?;
    let writer = async {
        write_pattern(&mut send, up, seed)
            .await
            .context("uploading")?;
        send.finish().context("finishing")?;
        anyhow::Ok(())
    };
    let reader = async {
        let mut body = (&mut recv).take(down);
        let got = read_hashing(&mut body).await.context("downloading")?;
        anyhow::ensure!(got.1 == down, "received {} of {down} bytes", got.1);
        anyhow::ensure!(got.0 == pattern_digest(down, 7), "download corrupted");
        let mut server_digest = [0u8; 32];
        recv.read_exact(&mut server_digest)
            .await
            .context("reading the server's digest")?;
        anyhow::ensure!(
            server_digest == pattern_digest(up, seed),
            "upload corrupted"
        );
        anyhow::Ok(())
    };
    tokio::try_join!(writer, reader)?;
    Ok(())
}

pub async fn connect(addr: SocketAddr, config: &ClientConfig) -> Session {
    tokio::time::timeout(
        Duration::from_secs(20),
        hopgate_transport::connect(addr, config),
    )
    .await
    .expect("connect timed out")
    .expect("connect failed")
}
