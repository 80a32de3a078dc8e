//! A private Pebble per test (`hopgate_test_support::Pebble`), and a tiny HTTP-01
//! responder: it subscribes to the control-plane's table with
//! `hopgate_table_client::Subscriber` and answers `GET /.well-known/acme-challenge/TOKEN` from
//! `Table::challenge` on the port Pebble validates against, like a data-plane pod would.

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use hopgate_table::Table;
use hopgate_table_client::{Subscriber, SubscriberConfig};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

use super::{ControlPlane, INTERNAL_TOKEN, TempDir};

pub use hopgate_test_support::Pebble;

/// Answers HTTP-01 challenges from the table; can stop answering and start again, or be
/// told to refuse some Host names (404).
pub struct Responder {
    pub port: u16,
    pub subscriber: Arc<Subscriber>,
    pub refused: Arc<Mutex<HashSet<String>>>,
    /// Off: every connection is closed unanswered, as if the pod were gone.
    serving: Arc<AtomicBool>,
    task: Option<JoinHandle<()>>,
    _state: TempDir,
}

impl Responder {
    /// Binds a free port (to give Pebble) without serving yet.
    pub async fn bind() -> (TcpListener, u16) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        (listener, port)
    }

    /// Subscribes to `cp`'s table and serves on `listener`.
    pub fn start(cp: &ControlPlane, listener: TcpListener) -> Self {
        let state = TempDir::new("responder");
        let config = SubscriberConfig::new(&cp.internal_url(), INTERNAL_TOKEN, "responder")
            .state_dir(&state.0);
        let subscriber = Arc::new(Subscriber::start(config, |_: &Table, _: &_| {}).unwrap());
        let port = listener.local_addr().unwrap().port();
        let mut responder = Self {
            port,
            subscriber,
            refused: Arc::default(),
            serving: Arc::new(AtomicBool::new(true)),
            task: None,
            _state: state,
        };
        responder.serve(listener);
        responder
    }

    /// Keeps the port for the responder's whole life (a port given up and bound again
    /// could go to another test's socket in between); whether it answers is `serving`.
    fn serve(&mut self, listener: TcpListener) {
        let subscriber = self.subscriber.clone();
        let refused = self.refused.clone();
        let serving = self.serving.clone();
        self.task = Some(tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                if !serving.load(Ordering::SeqCst) {
                    drop(conn);
                    continue;
                }
                let table = subscriber.table();
                let refused = refused.clone();
                tokio::spawn(answer(conn, table, refused));
            }
        }));
    }

    /// Stops answering: every connection is closed at once, unanswered.
    pub fn stop(&mut self) {
        self.serving.store(false, Ordering::SeqCst);
    }

    /// Answers again.
    pub fn restart(&mut self) {
        self.serving.store(true, Ordering::SeqCst);
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn answer(mut conn: TcpStream, table: Arc<Table>, refused: Arc<Mutex<HashSet<String>>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
        match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let path = head.split_whitespace().nth(1).unwrap_or("");
    let host = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("Host: ")
                .or_else(|| l.strip_prefix("host: "))
        })
        .map(|h| h.split(':').next().unwrap_or("").to_owned())
        .unwrap_or_default();
    let token = path.strip_prefix("/.well-known/acme-challenge/");
    let blocked = refused.lock().unwrap().contains(&host);
    let response = match token.and_then(|t| table.challenge(t)) {
        Some(answer) if !blocked => format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
            answer.len()
        ),
        _ => "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned(),
    };
    let _ = conn.write_all(response.as_bytes()).await;
    let _ = conn.shutdown().await;
}
