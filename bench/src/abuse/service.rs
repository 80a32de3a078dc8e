//! The local service behind both agents: a small HTTP/1.1 server (keep-alive). `GET /big`
//! answers 1 MiB; anything else reads the request's body (`Content-Length` or chunked)
//! and answers `ok`.

use std::net::SocketAddr;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

const BIG: usize = 1 << 20;
const MAX_HEAD: usize = 64 * 1024;

/// Starts the service on a free loopback port; its address.
pub(crate) async fn start() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream));
        }
    });
    Ok(addr)
}

async fn serve(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buffer = Vec::new();
    loop {
        let Some(head_end) = read_head(&mut stream, &mut buffer).await else {
            return;
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
        buffer.drain(..head_end);
        if !skip_body(&mut stream, &mut buffer, &head).await {
            return;
        }
        let big = head.starts_with("get /big ");
        let answer = if big {
            let mut answer =
                format!("HTTP/1.1 200 OK\r\ncontent-length: {BIG}\r\n\r\n").into_bytes();
            answer.resize(answer.len() + BIG, b'x');
            answer
        } else {
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_vec()
        };
        if stream.write_all(&answer).await.is_err() {
            return;
        }
    }
}

/// Reads until `buffer` holds a whole head; the head's length (with its empty line).
async fn read_head(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(at + 4);
        }
        if buffer.len() > MAX_HEAD || !read_more(stream, buffer).await {
            return None;
        }
    }
}

/// Reads and discards the body `head` announces; false if the connection ended.
async fn skip_body(stream: &mut TcpStream, buffer: &mut Vec<u8>, head: &str) -> bool {
    if head.contains("transfer-encoding: chunked") {
        loop {
            if let Some(at) = buffer.windows(5).position(|w| w == b"0\r\n\r\n") {
                buffer.drain(..at + 5);
                return true;
            }
            let keep = buffer.len().saturating_sub(4);
            buffer.drain(..keep);
            if !read_more(stream, buffer).await {
                return false;
            }
        }
    }
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut left = length;
    loop {
        let take = left.min(buffer.len());
        buffer.drain(..take);
        left -= take;
        if left == 0 {
            return true;
        }
        if !read_more(stream, buffer).await {
            return false;
        }
    }
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 16 * 1024];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buffer.extend_from_slice(&chunk[..n]);
            true
        }
    }
}
