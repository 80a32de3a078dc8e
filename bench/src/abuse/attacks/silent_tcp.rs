//! `silent_tcp`: 4,000 TCP connections to the HTTPS listener from 127.0.0.2 that never
//! send a byte; one the pod closes is opened again (at most 40,000 in all).

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use tokio::{
    io::AsyncReadExt,
    net::{TcpSocket, TcpStream},
    task::JoinSet,
};

use super::{Context, Stop};

const CONNECTIONS: usize = 4_000;
const MAX_CONNECTS: usize = 40_000;

pub(super) async fn run(context: Context) -> anyhow::Result<String> {
    let connects = Arc::new(AtomicUsize::new(0));
    let open = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..CONNECTIONS {
        let (stop, connects, open) = (context.stop.clone(), connects.clone(), open.clone());
        let https = context.https;
        tasks.spawn(async move { hold(https, &stop, &connects, &open).await });
    }
    let started = std::time::Instant::now();
    while open.load(Ordering::Relaxed) < CONNECTIONS
        && started.elapsed() < std::time::Duration::from_secs(10)
        && !context.stop.now()
    {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let held = open.load(Ordering::Relaxed);
    let _ = context.ready.send(());
    context.stop.wait().await;
    while tasks.join_next().await.is_some() {}
    Ok(format!(
        "{held} silent connections held at once, {} opened in all",
        connects.load(Ordering::Relaxed)
    ))
}

/// Keeps one silent connection open, reconnecting when the pod closes it.
async fn hold(https: SocketAddr, stop: &Stop, connects: &AtomicUsize, open: &AtomicUsize) {
    while !stop.now() && connects.fetch_add(1, Ordering::Relaxed) < MAX_CONNECTS {
        let Ok(mut stream) = connect_from_second_loopback(https).await else {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        };
        open.fetch_add(1, Ordering::Relaxed);
        let mut buf = [0u8; 64];
        tokio::select! {
            _ = stream.read(&mut buf) => {}
            () = stop.wait() => {}
        }
        open.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn connect_from_second_loopback(https: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from(([127, 0, 0, 2], 0)))?;
    socket.connect(https).await
}
