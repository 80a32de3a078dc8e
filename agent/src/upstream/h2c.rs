//! The h2c client of one tunnel: HTTP/2 with prior knowledge over plain TCP, one
//! multiplexed connection to the tunnel's local service (opened again when it closes).
//!
//! Its requests name the `Host` the local service is shown as their authority (HTTP/2's
//! `:authority`, RFC 9113 §8.3.1), not the address they go to, so every connection goes to
//! the tunnel's target whatever a request's URI says ([`ToTarget`]).

use std::{future::Future, pin::Pin, task};

use http::Uri;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::{TokioExecutor, TokioTimer},
};
use tower_service::Service;

use super::{CONNECT_TIMEOUT, POOL_IDLE_TIMEOUT};
use crate::{body::RequestBody, config::LocalTarget};

/// The largest response head (decoded, as HTTP/2 counts it) the local service may send:
/// past the tunnel's 64 KiB, so that a head too large for the tunnel is refused as such,
/// naming the local service, as over HTTP/1.1.
const MAX_HEADER_LIST: u32 = 256 * 1024;

/// HTTP/2 without TLS to one local service.
pub(crate) type H2cClient = Client<ToTarget, RequestBody>;

/// The h2c client of the local service at `target`.
pub(crate) fn client(target: &LocalTarget) -> H2cClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let target = target.root().clone();
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .http2_max_header_list_size(MAX_HEADER_LIST)
        .build(ToTarget { connector, target })
}

/// Connects to the tunnel's target, whichever authority the request names.
#[derive(Debug, Clone)]
pub(crate) struct ToTarget {
    connector: HttpConnector,
    target: Uri,
}

type Connecting = Pin<
    Box<dyn Future<Output = Result<<HttpConnector as Service<Uri>>::Response, BoxError>> + Send>,
>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Service<Uri> for ToTarget {
    type Response = <HttpConnector as Service<Uri>>::Response;
    type Error = BoxError;
    type Future = Connecting;

    fn poll_ready(&mut self, cx: &mut task::Context<'_>) -> task::Poll<Result<(), BoxError>> {
        self.connector.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, _named: Uri) -> Connecting {
        let connecting = self.connector.call(self.target.clone());
        Box::pin(async move { connecting.await.map_err(Into::into) })
    }
}
