//! A local WebSocket echo server behind the agent, and a visitor's `wss://` connection to
//! it through a pod.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsConnector, client::TlsStream};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{self, Message, client::IntoClientRequest, handshake::server},
};

use crate::DataPlane;

/// A local WebSocket echo server: text and binary messages come back as they are; the
/// headers of each upgrade request are kept for the test to look at.
// The handshake callback's `Result` type is tungstenite's, large error and all.
#[allow(clippy::result_large_err)]
pub async fn start_echo_server() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let keep = keep.clone();
            tokio::spawn(async move {
                let remember = |req: &server::Request, res: server::Response| {
                    let mut headers = keep.lock().unwrap();
                    for (name, value) in req.headers() {
                        headers.push(format!("{name}: {}", value.to_str().unwrap_or("?")));
                    }
                    Ok(res)
                };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, remember).await else {
                    return;
                };
                while let Some(Ok(message)) = ws.next().await {
                    if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err()
                    {
                        break;
                    }
                }
            });
        }
    });
    (addr, seen)
}

/// A visitor's `wss://DOMAIN/path` connection through the data-plane, trusting its debug
/// certificate and speaking HTTP/1.1 (WebSocket's upgrade is an HTTP/1.1 mechanism).
pub async fn visit_host(
    dp: &DataPlane,
    domain: &str,
    path: &str,
) -> Result<WebSocketStream<TlsStream<TcpStream>>, tungstenite::Error> {
    let config = dp.tls_http1();
    let tcp = TcpStream::connect(dp.https).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from(domain.to_owned()).unwrap();
    let tls = TlsConnector::from(config).connect(name, tcp).await.unwrap();
    let request = format!("wss://{domain}:{}{path}", dp.https.port())
        .into_client_request()
        .unwrap();
    let (ws, response) = tokio_tungstenite::client_async(request, tls).await?;
    assert_eq!(response.status(), 101);
    Ok(ws)
}

pub async fn expect_echo(ws: &mut WebSocketStream<TlsStream<TcpStream>>, message: Message) {
    ws.send(message.clone()).await.unwrap();
    let back = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("no echo within 10 s")
        .expect("the WebSocket closed")
        .unwrap();
    assert_eq!(back, message);
}
