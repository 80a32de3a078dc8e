//! The local service's side: the clients the agent calls it with ([`LocalClient`]: the
//! pooled HTTP/1.1 client every tunnel shares, and a tunnel's own h2c client, `h2c`), and
//! what their failures mean for the visitor ([`LocalError`] and its [`ResetCode`]).

mod h2c;

use std::{error::Error as StdError, io, time::Duration};

use hopgate_protocol::{Limits, ResetCode};
use http::{Request, Version};
use hyper_util::{
    client::legacy::{Client, ResponseFuture, connect::HttpConnector},
    rt::{TokioExecutor, TokioTimer},
};

use self::h2c::H2cClient;
use crate::{
    body::RequestBody,
    config::{LocalProtocol, LocalTarget},
};

/// Connecting to the local service longer than this means it isn't there.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle pooled connections are closed after this: below the 5 s keep-alive timeout of
/// common local servers (Node's), so a request rarely races a server closing the
/// connection it was about to reuse.
pub(crate) const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);
/// Idle connections kept per local service.
pub(crate) const POOL_MAX_IDLE: usize = 256;

/// HTTP/1.1 to the local service, connections kept alive and reused. No redirects are
/// followed and nothing is decompressed: the visitor gets what the service sent. A
/// response head may have as many fields as the tunnel's head frame can carry
/// ([`Limits::max_head_fields`]; hyper's default is 100): its size is what is limited,
/// by hyper's read buffer (about 400 KiB) and then by the head frame (64 KiB encoded).
pub(crate) type Http1Client = Client<HttpConnector, RequestBody>;

/// The HTTP/1.1 client for local services.
pub(crate) fn http1_client() -> Http1Client {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .pool_max_idle_per_host(POOL_MAX_IDLE)
        .http1_max_headers(Limits::default().max_head_fields())
        .build(connector)
}

/// How one tunnel's requests reach its local service: over the shared HTTP/1.1 pool, or
/// over the tunnel's h2c connection, as its [`LocalProtocol`] says.
#[derive(Debug, Clone)]
pub(crate) struct LocalClient {
    http1: Http1Client,
    /// `None` with `--local-protocol http1`.
    h2c: Option<H2cClient>,
    protocol: LocalProtocol,
}

impl LocalClient {
    /// The client of the local service at `target`, spoken to by `protocol`.
    pub(crate) fn new(http1: Http1Client, target: &LocalTarget, protocol: LocalProtocol) -> Self {
        Self {
            http1,
            h2c: (protocol != LocalProtocol::Http1).then(|| h2c::client(target)),
            protocol,
        }
    }

    /// The version a request of this `content-type` goes with: `HTTP_2` (h2c) or `HTTP_11`.
    pub(crate) fn version_for(&self, content_type: Option<&[u8]>) -> Version {
        match self.protocol.uses_h2c(content_type) {
            true => Version::HTTP_2,
            false => Version::HTTP_11,
        }
    }

    /// Sends `request` with its version: `HTTP_2` over h2c, anything else over HTTP/1.1.
    pub(crate) fn request(&self, request: Request<RequestBody>) -> ResponseFuture {
        match &self.h2c {
            Some(h2c) if request.version() == Version::HTTP_2 => h2c.request(request),
            _ => self.http1.request(request),
        }
    }
}

/// The local service failed the request.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LocalError {
    /// It can't be reached: nothing listens there, or connecting timed out.
    #[error("{reason}")]
    Unreachable {
        /// E.g. `connection refused to 127.0.0.1:3000`.
        reason: String,
    },
    /// It took longer than the response timeout to start answering.
    #[error("no response from {target} within {} s", after.as_secs())]
    Timeout {
        /// `host:port`.
        target: String,
        /// The timeout that ran out.
        after: Duration,
    },
    /// What it sent isn't an HTTP response, or it closed the connection without one.
    #[error("{target} sent no valid HTTP response: {reason}")]
    Protocol {
        /// `host:port`.
        target: String,
        /// Why.
        reason: String,
    },
    /// Its response head is larger than the tunnel carries (one head frame).
    #[error("the response headers from {target} are larger than the gateway carries: {reason}")]
    HeadTooLarge {
        /// `host:port`.
        target: String,
        /// The encoder's account of it.
        reason: String,
    },
    /// The response started but its body broke off.
    #[error("the response body from {target} failed midway: {reason}")]
    BodyFailed {
        /// `host:port`.
        target: String,
        /// Why.
        reason: String,
    },
}

impl LocalError {
    /// The code the gateway gets in the Reset, from which it picks the visitor's status.
    pub(crate) fn reset_code(&self) -> ResetCode {
        match self {
            Self::Unreachable { .. } => ResetCode::UpstreamUnreachable,
            Self::Timeout { .. } => ResetCode::UpstreamTimeout,
            Self::Protocol { .. } | Self::HeadTooLarge { .. } | Self::BodyFailed { .. } => {
                ResetCode::UpstreamProtocolError
            }
        }
    }

    /// A failed request to `target`.
    pub(crate) fn from_client(
        err: &hyper_util::client::legacy::Error,
        target: &LocalTarget,
    ) -> Self {
        let authority = target.authority();
        if err.is_connect() {
            let reason = match find_io_error(err).map(io::Error::kind) {
                Some(io::ErrorKind::ConnectionRefused) => {
                    format!("connection refused to {authority}")
                }
                Some(io::ErrorKind::TimedOut) => format!(
                    "connecting to {authority} timed out after {} s",
                    CONNECT_TIMEOUT.as_secs()
                ),
                _ => format!("cannot connect to {authority}: {}", causes(err)),
            };
            return Self::Unreachable { reason };
        }
        Self::Protocol {
            target: authority.to_owned(),
            reason: causes(err),
        }
    }

    /// The response body from `target` failed.
    pub(crate) fn body_failed(err: &hyper::Error, target: &LocalTarget) -> Self {
        Self::BodyFailed {
            target: target.authority().to_owned(),
            reason: chain(err),
        }
    }
}

fn find_io_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a io::Error> {
    let mut next = Some(err);
    while let Some(err) = next {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            return Some(io);
        }
        next = err.source();
    }
    None
}

/// The causes of a client error, without hyper-util's own "client error (Kind)" wrapper.
fn causes(err: &hyper_util::client::legacy::Error) -> String {
    match err.source() {
        Some(source) => chain(source),
        None => err.to_string(),
    }
}

/// `outer: inner: innermost`.
fn chain(err: &dyn StdError) -> String {
    let mut text = err.to_string();
    let mut next = err.source();
    while let Some(err) = next {
        let part = err.to_string();
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        next = err.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] io::Error);

    #[test]
    fn causes_are_joined_and_io_errors_found() {
        let err = Outer(io::Error::new(io::ErrorKind::ConnectionRefused, "refused"));
        assert_eq!(chain(&err), "outer: refused");
        assert_eq!(
            find_io_error(&err).unwrap().kind(),
            io::ErrorKind::ConnectionRefused
        );
    }

    #[test]
    fn codes_blame_the_local_service() {
        let unreachable = LocalError::Unreachable {
            reason: "connection refused to 127.0.0.1:1".into(),
        };
        assert_eq!(unreachable.reset_code(), ResetCode::UpstreamUnreachable);
        assert_eq!(unreachable.to_string(), "connection refused to 127.0.0.1:1");
        let timeout = LocalError::Timeout {
            target: "x:1".into(),
            after: Duration::from_secs(60),
        };
        assert_eq!(timeout.reset_code(), ResetCode::UpstreamTimeout);
        assert_eq!(timeout.to_string(), "no response from x:1 within 60 s");
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable_and_says_where() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let target = LocalTarget::parse(&port.to_string()).unwrap();
        let request = http::Request::get(target.uri_for("/").unwrap())
            .body(RequestBody::empty())
            .unwrap();
        let err = http1_client().request(request).await.unwrap_err();
        let local = LocalError::from_client(&err, &target);
        assert_eq!(local.reset_code(), ResetCode::UpstreamUnreachable);
        assert_eq!(
            local.to_string(),
            format!("connection refused to 127.0.0.1:{port}")
        );
    }
}
