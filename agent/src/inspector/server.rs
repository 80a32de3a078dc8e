//! The inspector's listener: at most `inspect_max_connections` connections at once (more
//! are closed at once and counted), HTTP/1.1 only, a request head of at most
//! [`MAX_HEAD_BYTES`] that must arrive within [`HEAD_READ_TIMEOUT`] (an idle kept-alive
//! connection is closed after the same time), and every request checked by [`guard`]
//! before [`api`] answers it.

use std::{convert::Infallible, sync::Arc, time::Duration};

use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use slog::{Logger, debug, warn};
use tokio::{net::TcpListener, sync::Semaphore};

use super::{
    api::{self, App, Reply},
    guard,
    metrics::Refusal,
};

/// How long a client has to send a request head (and how long a kept-alive connection
/// may sit idle).
pub(super) const HEAD_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest request head read (hyper's smallest buffer).
pub(super) const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Accepts connections until the task is dropped.
pub(super) async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    max_connections: usize,
    log: Logger,
) {
    let permits = Arc::new(Semaphore::new(max_connections));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                warn!(log, "inspector: accept failed"; "error" => %err);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            app.store.metrics().refused(Refusal::Connections);
            debug!(log, "inspector: too many connections"; "peer" => peer.to_string());
            continue;
        };
        let app = app.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(answer(request, &app).await) }
            });
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_READ_TIMEOUT)
                .max_buf_size(MAX_HEAD_BYTES)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            drop(permit);
        });
    }
}

/// The guard, then the API.
async fn answer(request: http::Request<Incoming>, app: &App) -> http::Response<Reply> {
    match guard::check(&request, app.local_addr) {
        Ok(()) => api::answer(request, app).await,
        Err(refused) => {
            app.store.metrics().refused(refused.reason());
            api::error(refused.status(), refused.code(), &refused.to_string())
        }
    }
}
