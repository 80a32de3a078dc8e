//! A local service that speaks HTTP/2 without TLS only (h2c, prior knowledge), as gRPC
//! servers do, for plain requests: every request, body read, is answered `200` with the
//! body `h2c METHOD PATH authority=AUTHORITY` and a trailer field `x-body-bytes: N`.

use std::net::SocketAddr;

use bytes::Bytes;
use http_02::{HeaderMap, HeaderValue, Response};
use tokio::{net::TcpListener, task::JoinHandle};

pub struct H2cService {
    pub addr: SocketAddr,
    accepting: JoinHandle<()>,
}

impl H2cService {
    /// Listens on 127.0.0.1, serving on the caller's runtime until dropped.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepting = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(serve_connection(tcp));
            }
        });
        Self { addr, accepting }
    }
}

impl Drop for H2cService {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

async fn serve_connection(tcp: tokio::net::TcpStream) {
    let Ok(mut connection) = h2::server::handshake(tcp).await else {
        return;
    };
    while let Some(Ok((request, respond))) = connection.accept().await {
        tokio::spawn(answer(request, respond));
    }
}

async fn answer(
    request: http_02::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
) {
    let (head, mut body) = request.into_parts();
    let mut received = 0;
    while let Some(Ok(chunk)) = body.data().await {
        received += chunk.len();
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    let authority = head.uri.authority().map_or("", |a| a.as_str());
    let text = format!(
        "h2c {} {} authority={authority}",
        head.method,
        head.uri.path()
    );
    let response = Response::builder()
        .header("content-type", "text/plain")
        .body(())
        .unwrap();
    let Ok(mut stream) = respond.send_response(response, false) else {
        return;
    };
    let _ = stream.send_data(Bytes::from(text), false);
    let mut trailers = HeaderMap::new();
    trailers.insert("x-body-bytes", HeaderValue::from(received));
    let _ = stream.send_trailers(trailers);
}
