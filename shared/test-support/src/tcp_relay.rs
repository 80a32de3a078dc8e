//! A TCP relay to one upstream whose upstream-to-client direction can be paused: a peer
//! that stops reading, as a stalled agent or visitor does, without changing the peer.

use std::net::SocketAddr;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
};

/// A running relay: connections to [`PausableRelay::addr`] go to the upstream.
pub struct PausableRelay {
    pub addr: SocketAddr,
    flowing: watch::Sender<bool>,
}

impl PausableRelay {
    /// Relays every connection to `upstream`, flowing both ways until [`Self::pause`].
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (flowing, flowing_rx) = watch::channel(true);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                tokio::spawn(
                    async move { tokio::io::copy(&mut client_read, &mut server_write).await },
                );
                let mut flowing = flowing_rx.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        while !*flowing.borrow_and_update() {
                            if flowing.changed().await.is_err() {
                                return;
                            }
                        }
                        let n = match server_read.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        if client_write.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self { addr, flowing }
    }

    /// Stops passing the upstream's bytes to clients (what was read is still delivered).
    pub fn pause(&self) {
        let _ = self.flowing.send(false);
    }
}
