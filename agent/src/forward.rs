//! One visitor request on one stream the gateway opened: read the [`RequestHead`], call
//! the local service, stream the answer back.
//!
//! Gateway → agent: `RequestHead`, `BodyChunk`*, `EndOfBody`, then the gateway finishes
//! its half. Agent → gateway: `ResponseHead`, `BodyChunk`*, `EndOfBody`, finish; or a
//! `Reset` saying what went wrong (before or after the head), then finish. The order is
//! hopgate-protocol's stream rules, which check every frame either way ([`stream`]).
//!
//! Both bodies stream: request chunks go to the local service through a bounded queue
//! ([`crate::body`]) as they arrive, response chunks go to the gateway as the local service
//! produces them (a server-sent event is forwarded the moment it is read), and every write
//! waits for the other side's flow control, so memory stays bounded whatever the sizes.
//! While the exchange runs the request stream is watched: if the gateway resets it (the
//! visitor went away), the local request is dropped, which closes its connection.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures_util::FutureExt;
use hopgate_access::AccessPolicy;
use hopgate_protocol::{
    BodyEvent, EncodeError, Limits, Opening, RequestHead, Reset, ResetCode, ResponseHead,
    StreamError,
};
use hopgate_transport::{RecvStream, SendStream};
use hopgate_tunnel::TunnelError;
use http::{Method, Request, Version, request::Parts};
use http_body::Body as _;
use http_body_util::BodyExt;
use slog::{Logger, debug, info, o, warn};
use tokio::sync::watch;

use crate::{
    body::RequestBody,
    config::{HostHeader, LocalTarget, TunnelSettings},
    headers,
    inspector::{Capture, Recorder, ResponseCapture},
    metrics::Metrics,
    upstream::{Http1Client, LocalClient, LocalError},
};

/// How long the gateway may take to send the head on a stream it opened.
pub(crate) const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// After the response is complete, how long to wait for the rest of the request stream
/// (normally just its end) before dropping it.
const DRAIN_GRACE: Duration = Duration::from_secs(1);

mod access;
mod stream;
mod upgrade;
mod upload;

use self::{
    stream::{RequestReader as Reader, ResponseWriter as Writer, WriteError},
    upload::{StreamEnd, watch_request_stream},
};

/// Why a request didn't complete, tagged by the side at fault.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ForwardError {
    /// The local service: unreachable, too slow, or not speaking HTTP.
    #[error("local service: {0}")]
    Local(#[from] LocalError),
    /// The gateway's side: the visitor went away, the stream broke, or the protocol was
    /// broken.
    #[error("gateway: {0}")]
    Gateway(#[from] GatewayError),
    /// This agent was about to write a frame the stream's rules refuse; it wasn't sent.
    #[error("internal: {0}")]
    Internal(#[source] StreamError),
}

impl From<WriteError> for ForwardError {
    fn from(err: WriteError) -> Self {
        match err {
            WriteError::Refused(err) => Self::Internal(err),
            WriteError::Stream(err) => Self::Gateway(GatewayError::Stream(err)),
        }
    }
}

/// The gateway's side of a failed request.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GatewayError {
    /// The stream failed (reset by the gateway, or the session was lost).
    #[error("the stream failed: {0}")]
    Stream(#[from] TunnelError),
    /// The gateway abandoned the request (the visitor went away).
    #[error("the request was cancelled: {0}")]
    Cancelled(String),
    /// The gateway's request can't be carried out (its method, target or headers).
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The gateway sent a frame the stream's rules refuse.
    #[error("protocol violation: {0}")]
    Violation(#[source] StreamError),
}

impl ForwardError {
    /// What to tell the gateway, or `None` when the stream is gone and only a transport
    /// reset makes sense.
    fn reset(&self) -> Option<Reset> {
        match self {
            Self::Local(err) => Some(Reset::new(err.reset_code(), err.to_string())),
            Self::Gateway(GatewayError::Protocol(why)) => {
                Some(Reset::new(ResetCode::ProtocolError, why.clone()))
            }
            Self::Gateway(GatewayError::Violation(err)) => {
                Some(Reset::new(ResetCode::ProtocolError, err.to_string()))
            }
            Self::Internal(err) => Some(Reset::new(ResetCode::Internal, err.to_string())),
            Self::Gateway(GatewayError::Cancelled(_) | GatewayError::Stream(_)) => None,
        }
    }

    /// The visitor went away or the session ended: routine, not worth a log line.
    fn is_cancellation(&self) -> bool {
        matches!(
            self,
            Self::Gateway(GatewayError::Cancelled(_) | GatewayError::Stream(_))
        )
    }
}

/// Serves the request streams of one tunnel.
#[derive(Debug)]
pub(crate) struct Forwarder {
    client: LocalClient,
    target: LocalTarget,
    host_header: HostHeader,
    /// The tunnel's own Basic users (`--basic-auth`), as salted hashes; `None`: anyone.
    access: Option<AccessPolicy>,
    domain: String,
    response_timeout: Duration,
    verbose: bool,
    limits: Limits,
    metrics: Arc<Metrics>,
    /// Where exchanges are captured, when the inspector runs.
    recorder: Option<Recorder>,
    /// Carries the tunnel's `domain`.
    log: Logger,
}

impl Forwarder {
    pub(crate) fn new(
        http1: Http1Client,
        tunnel: &TunnelSettings,
        response_timeout: Duration,
        verbose: bool,
        metrics: Arc<Metrics>,
        recorder: Option<Recorder>,
        log: Logger,
    ) -> Self {
        Self {
            client: LocalClient::new(http1, &tunnel.target, tunnel.local_protocol),
            target: tunnel.target.clone(),
            host_header: tunnel.host_header.clone(),
            access: access::policy(&tunnel.basic_auth),
            domain: tunnel.domain.clone(),
            response_timeout,
            verbose,
            limits: Limits::default(),
            metrics,
            recorder,
            log,
        }
    }

    /// Serves one stream to the end; never fails (failures go to the gateway as a Reset
    /// and to stderr as a line).
    pub(crate) async fn serve(self: Arc<Self>, send: SendStream, recv: RecvStream) {
        let started = Instant::now();
        let mut reader = Reader::new(recv, self.limits);
        let mut writer = Writer::new(send, self.limits);
        let head = match read_head(&mut reader).await {
            Ok(Some(head)) => head,
            Ok(None) => return,
            Err(err) => {
                let log = self.log.clone();
                self.fail(&mut writer, "?", err.into(), &log).await;
                return;
            }
        };
        writer.answering(&head);
        // The path only: a query string may carry tokens, and logs must not.
        let path = head.uri.split('?').next().unwrap_or_default();
        let what = format!("{} {path}", head.method);
        let log = self.log.new(o!("request_id" => head.request_id.clone()));
        let mut capture = self.recorder.as_ref().map(Recorder::begin);
        let outcome = self
            .exchange(&head, &mut reader, &mut writer, capture.as_mut())
            .await;
        let recorded =
            capture.map(|c| (c, outcome.as_ref().map(|s| *s).map_err(|e| e.to_string())));
        match outcome {
            Ok(status) => {
                let took = started.elapsed();
                self.metrics.request(Some(status), took);
                if self.verbose {
                    eprintln!(
                        "{} {what} -> {status} ({} ms)",
                        self.domain,
                        took.as_millis()
                    );
                }
                debug!(log, "request served"; "method" => &head.method, "path" => path,
                    "status" => status, "ms" => took.as_millis() as u64);
            }
            Err(err) => {
                self.metrics.request(None, started.elapsed());
                self.fail(&mut writer, &what, err, &log).await;
            }
        }
        if let Some((capture, outcome)) = recorded {
            // The head is done with: the capture takes it as it is, without a copy.
            capture.finish(head, outcome);
        }
    }

    /// Tells the gateway (a Reset, or a transport reset when the stream is gone) and the
    /// user (one line, unless it was a routine cancellation).
    async fn fail(&self, writer: &mut Writer, what: &str, err: ForwardError, log: &Logger) {
        if let ForwardError::Local(local) = &err {
            self.metrics.local_error(local.reset_code().as_str());
        }
        if err.is_cancellation() {
            info!(log, "request cancelled"; "request" => what, "error" => %err);
        } else {
            warn!(log, "request failed"; "request" => what, "error" => %err);
        }
        match err.reset() {
            Some(reset) => writer.reset(reset).await,
            None => writer.abandon(),
        }
        if self.verbose || !err.is_cancellation() {
            eprintln!("{} {what}: {err}", self.domain);
        }
    }

    /// One exchange; the response's status on success.
    async fn exchange(
        &self,
        head: &RequestHead,
        reader: &mut Reader,
        writer: &mut Writer,
        capture: Option<&mut Capture>,
    ) -> Result<u16, ForwardError> {
        if let Err(denial) = self.admits(head) {
            return self.refuse(denial, reader, writer).await;
        }
        if let Some(protocol) = headers::wants_upgrade(&head.headers) {
            return self.upgrade(head, protocol, reader, writer).await;
        }
        let version = self
            .client
            .version_for(headers::content_type(&head.headers));
        let parts = self.request_parts(head, version)?;
        // The first frame after the head tells a request without a body (so none is sent,
        // not even an empty chunked one) from one with a body to stream.
        let first = reader.next().await?;
        let (body, sender, first) = match first {
            Some(BodyEvent::End(end)) if end.trailers.is_empty() => {
                (RequestBody::empty(), None, None)
            }
            Some(event @ (BodyEvent::Data(_) | BodyEvent::End(_))) => {
                let (sender, body) = RequestBody::channel();
                (body, Some(sender), Some(event))
            }
            Some(BodyEvent::Reset(reset)) => return Err(cancelled(&reset).into()),
            // The stream's rules allow its end only after EndOfBody.
            None => {
                return Err(
                    GatewayError::Cancelled("the stream ended before EndOfBody".into()).into(),
                );
            }
        };
        let request = Request::from_parts(parts, body);

        // The response timeout runs from the end of the request body: a slow upload is
        // not a slow service.
        let (body_done, body_sent) = watch::channel(sender.is_none());
        let (request_tap, response_tap) = capture.map(Capture::taps).unzip();
        let bytes_in = &self.metrics.bytes_in;
        let watch = watch_request_stream(reader, sender, first, body_done, bytes_in, request_tap);
        let respond = self.respond(request, body_sent, writer, response_tap);
        tokio::pin!(watch, respond);
        let mut watched = false;
        loop {
            tokio::select! {
                biased;
                end = &mut watch, if !watched => match end {
                    StreamEnd::Done => watched = true,
                    // Dropping `respond` drops the local request and closes its connection.
                    StreamEnd::Failed(err) => return Err(err.into()),
                },
                result = &mut respond => {
                    if !watched && result.is_ok() {
                        // The local service answered before the upload ended, or the
                        // stream's end is still on its way: give it a moment, then drop
                        // the read half (telling the gateway to stop sending).
                        let _ = tokio::time::timeout(DRAIN_GRACE, &mut watch).await;
                    }
                    return result;
                }
            }
        }
    }

    /// Method, URI on the local service, and headers, as the gateway gave them, for a
    /// request of `version` (`HTTP_11`, or `HTTP_2` over h2c).
    pub(crate) fn request_parts(
        &self,
        head: &RequestHead,
        version: Version,
    ) -> Result<Parts, GatewayError> {
        let method = Method::from_bytes(head.method.as_bytes())
            .map_err(|_| GatewayError::Protocol(format!("invalid method {:?}", head.method)))?;
        let uri = self
            .target
            .uri_for(&head.uri)
            .map_err(|err| GatewayError::Protocol(err.to_string()))?;
        let mut headers = headers::to_header_map(&head.headers)
            .map_err(|e| GatewayError::Protocol(format!("request head: {e}")))?;
        headers::join_cookies(&mut headers);
        if self.access.is_some() {
            // The agent's own credentials: not the local service's business.
            headers.remove(http::header::AUTHORIZATION);
        }
        headers::set_host(&mut headers, &self.host_header, &self.target);
        let (mut parts, ()) = Request::new(()).into_parts();
        parts.method = method;
        parts.uri = uri;
        parts.version = Version::HTTP_11;
        parts.headers = headers;
        if version == Version::HTTP_2 {
            headers::for_h2c(&mut parts, &head.headers);
        }
        Ok(parts)
    }

    /// Calls the local service as [`Self::exchange`] does (the same head handling, client
    /// and response timeout) with a body already whole: the inspector's replays.
    pub(crate) async fn call_local(
        &self,
        head: &RequestHead,
        body: Option<Bytes>,
    ) -> Result<http::Response<hyper::body::Incoming>, ForwardError> {
        let version = self
            .client
            .version_for(headers::content_type(&head.headers));
        let parts = self.request_parts(head, version)?;
        let body = body.map_or_else(RequestBody::empty, RequestBody::whole);
        let call = self.client.request(Request::from_parts(parts, body));
        match tokio::time::timeout(self.response_timeout, call).await {
            Ok(result) => Ok(result.map_err(|err| LocalError::from_client(&err, &self.target))?),
            Err(_) => Err(LocalError::Timeout {
                target: self.target.authority().to_owned(),
                after: self.response_timeout,
            }
            .into()),
        }
    }

    /// Calls the local service and streams its response to the gateway. The local
    /// service has `response_timeout` to start answering once `body_sent` says the whole
    /// request body was handed over.
    async fn respond(
        &self,
        request: Request<RequestBody>,
        mut body_sent: watch::Receiver<bool>,
        writer: &mut Writer,
        tap: Option<&mut ResponseCapture>,
    ) -> Result<u16, ForwardError> {
        let method = request.method().clone();
        let request = self.client.request(request);
        tokio::pin!(request);
        let result = tokio::select! {
            biased;
            result = &mut request => result,
            // Also when the feeder is gone (the exchange is ending anyway).
            () = async { drop(body_sent.wait_for(|sent| *sent).await) } => {
                match tokio::time::timeout(self.response_timeout, &mut request).await {
                    Ok(result) => result,
                    Err(_) => {
                        return Err(LocalError::Timeout {
                            target: self.target.authority().to_owned(),
                            after: self.response_timeout,
                        }
                        .into());
                    }
                }
            }
        };
        let response = result.map_err(|err| LocalError::from_client(&err, &self.target))?;
        self.relay_response(response, &method, writer, tap).await
    }

    /// Streams the local service's response to the gateway: head, body, end, finish.
    async fn relay_response(
        &self,
        response: http::Response<hyper::body::Incoming>,
        method: &Method,
        writer: &mut Writer,
        mut tap: Option<&mut ResponseCapture>,
    ) -> Result<u16, ForwardError> {
        let (parts, mut body) = response.into_parts();
        let status = parts.status.as_u16();
        let mut headers = headers::from_header_map(&parts.headers);
        if headers::ended_with_head(method, &parts, body.is_end_stream()) {
            // An HTTP/2 answer whose head ended the stream (gRPC's trailers-only errors):
            // said so, the visitor gets it as one HEADERS frame again.
            headers.push(hopgate_protocol::Header::new("content-length", "0"));
        }
        if let Some(tap) = &mut tap {
            tap.head(status, &headers);
        }
        let head = ResponseHead { status, headers };
        // Head, body and end are queued and written together while the local service has
        // more ready, so a small answer leaves in one packet; whenever it has nothing ready,
        // what is queued goes out first (server-sent events aren't held back).
        writer
            .queue_head(head)
            .map_err(|err| self.unsendable(err))?;
        let mut trailers = Vec::new();
        loop {
            let next = match body.frame().now_or_never() {
                Some(next) => next,
                None => {
                    writer.flush().await?;
                    body.frame().await
                }
            };
            let Some(frame) = next else { break };
            let frame = frame.map_err(|e| LocalError::body_failed(&e, &self.target))?;
            match frame.into_data() {
                Ok(data) => {
                    self.metrics.bytes_out.inc_by(data.len() as u64);
                    if let Some(tap) = &mut tap {
                        tap.body.tee(&data);
                    }
                    writer.queue_body(data).await?;
                }
                Err(frame) => {
                    if let Ok(map) = frame.into_trailers() {
                        trailers = headers::from_header_map(&map);
                    }
                }
            }
        }
        writer.end(trailers).await?;
        Ok(status)
    }

    /// Why the local service's answer can't go to the gateway. A status the stream's
    /// rules refuse (informational, or a `101` nobody asked for) is the local service's
    /// protocol error; so is a head too large for one frame.
    fn unsendable(&self, err: WriteError) -> ForwardError {
        let target = self.target.authority().to_owned();
        match err {
            WriteError::Refused(
                refused @ (StreamError::InvalidStatus { .. } | StreamError::SwitchNotAsked),
            ) => LocalError::Protocol {
                target,
                reason: refused.to_string(),
            }
            .into(),
            WriteError::Stream(TunnelError::Encode(
                too_large @ EncodeError::HeadTooLarge { .. },
            )) => LocalError::HeadTooLarge {
                target,
                reason: too_large.to_string(),
            }
            .into(),
            other => other.into(),
        }
    }
}

/// The request's head, within [`HEAD_TIMEOUT`]; `None` if the gateway finished the stream
/// without sending anything.
async fn read_head(reader: &mut Reader) -> Result<Option<RequestHead>, GatewayError> {
    match tokio::time::timeout(HEAD_TIMEOUT, reader.head()).await {
        Ok(Ok(Some(Opening::Head(head)))) => Ok(Some(head)),
        Ok(Ok(Some(Opening::Reset(reset)))) => Err(cancelled(&reset)),
        Ok(Ok(None)) => Ok(None),
        Ok(Err(err)) => Err(err),
        Err(_) => Err(GatewayError::Protocol(format!(
            "no RequestHead within {} s",
            HEAD_TIMEOUT.as_secs()
        ))),
    }
}

fn cancelled(reset: &Reset) -> GatewayError {
    GatewayError::Cancelled(format!(
        "the gateway reset the request ({}: {})",
        reset.code, reset.message
    ))
}
