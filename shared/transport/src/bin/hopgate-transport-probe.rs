//! A tiny agent-side process for the transport's tests: dials a gateway from a given local
//! address, prints `connected`, then either streams bytes until killed (`hold`) or does one
//! echo round trip and exits (`roundtrip`). Tests kill it with SIGKILL to play a dead peer.
//!
//! Usage: hopgate-transport-probe SERVER_ADDR FINGERPRINT BIND_ADDR hold|roundtrip

use std::{io::Write, net::SocketAddr};

use hopgate_transport::{ClientConfig, Fingerprint, ServerVerification};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, server, fingerprint, bind, mode] = args.as_slice() else {
        return Err("usage: hopgate-transport-probe SERVER FINGERPRINT BIND hold|roundtrip".into());
    };
    let server: SocketAddr = server.parse()?;
    let fingerprint: Fingerprint = fingerprint.parse()?;
    let socket = std::net::UdpSocket::bind(bind.as_str())?;
    let config = ClientConfig::new("gw.hopgate.test", ServerVerification::Pinned(fingerprint));
    let session = hopgate_transport::connect_from(socket, server, &config).await?;
    let (mut send, mut recv) = session.open_stream().await?;
    match mode.as_str() {
        "hold" => {
            send.write_u64(0).await?;
            println!("connected");
            std::io::stdout().flush()?;
            let block = vec![1u8; 16 * 1024];
            loop {
                send.write_all(&block).await?;
            }
        }
        _ => {
            send.write_u64(5).await?;
            send.write_all(b"hello").await?;
            send.finish()?;
            let mut reply = [0u8; 5];
            recv.read_exact(&mut reply).await?;
            println!("connected");
            session.close("done");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            Ok(())
        }
    }
}
