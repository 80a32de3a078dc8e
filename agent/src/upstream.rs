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
    keep_the_heap_for_response_heads();
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

/// A block freed once at start so that glibc's allocator keeps the heap for response heads.
///
/// With [`Limits::max_head_fields`] slots, hyper takes two 128 KiB blocks to parse every
/// response head and frees them at once. glibc gives the top of its heap back to the
/// kernel whenever more than its trim threshold lies free there (128 KiB at start, then
/// twice its mmap threshold), so responses shrank and regrew the heap (`brk`, and page
/// faults zeroing the pages again): about 6 % of the agent's CPU per proxied request.
/// glibc raises its mmap threshold to the size of an mmapped block when that block is
/// freed, and the trim threshold with it (mallopt(3), "dynamic mmap threshold"): one block
/// of this size, allocated and freed untouched (no page is ever faulted in), lets the heap
/// keep up to 1 MiB free at its top instead.
const HEAP_THRESHOLD_BLOCK: usize = 512 * 1024;

/// See [`HEAP_THRESHOLD_BLOCK`]. Harmless elsewhere: with another allocator this is one
/// allocation of address space, never touched.
fn keep_the_heap_for_response_heads() {
    drop(std::hint::black_box(Vec::<u8>::with_capacity(
        HEAP_THRESHOLD_BLOCK,
    )));
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

    /// Minor page faults of this process so far (`/proc/self/stat`, field 10).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn minor_faults() -> u64 {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let (_, fields) = stat.rsplit_once(')').unwrap();
        fields.split_whitespace().nth(7).unwrap().parse().unwrap()
    }

    /// What hyper does per response head with the tunnel's field slots: blocks of 128 KiB
    /// written and freed (three here, so that even a thread's heap, which starts with room
    /// for one, has more than glibc's starting trim threshold free at its top). After the
    /// start-up block, the heap keeps them: the pages are faulted in once, not every round
    /// (without it: ~64 faults a round).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn response_heads_do_not_shrink_and_regrow_the_heap() {
        let slots = Limits::default().max_head_fields() * 32;
        assert_eq!(slots, 128 * 1024);
        keep_the_heap_for_response_heads();
        let before = minor_faults();
        for round in 0..200u8 {
            let blocks: Vec<Vec<u8>> = (0..3)
                .map(|_| {
                    let mut block = std::hint::black_box(Vec::<u8>::with_capacity(slots));
                    block.resize(slots, round);
                    block
                })
                .collect();
            drop(std::hint::black_box(blocks));
        }
        let faults = minor_faults() - before;
        assert!(faults < 2_000, "{faults} page faults in 200 rounds");
    }

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
