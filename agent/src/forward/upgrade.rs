//! Protocol switches (WebSocket): the local service is asked to upgrade, and if it answers
//! `101 Switching Protocols` the request stream becomes a raw byte pipe in both directions.
//!
//! Gateway → agent: `RequestHead` (with one `upgrade` header naming the protocol), then
//! nothing until the agent's `101`, then the visitor's bytes as `BodyChunk`s and an
//! `EndOfBody` when the visitor closes its side. Agent → gateway: `ResponseHead` (101, with
//! the local service's `upgrade` header), then the local service's bytes as `BodyChunk`s
//! and an `EndOfBody` when it closes its side. Each direction ends on its own (a WebSocket
//! close handshake needs both); a `Reset` or a failed connection ends both. There is no
//! idle timeout here: an open WebSocket lives as long as both ends keep it.
//!
//! A local service that declines the switch (any status but 101) is relayed as an
//! ordinary response. The stream's rules allow a `101` only because the request asked a
//! switch, and after it they read both directions as a byte pipe.

use bytes::{Bytes, BytesMut};
use hopgate_protocol::{BodyEvent, Header, RequestHead, ResponseHead};
use http::{
    HeaderValue, Request, StatusCode, Version,
    header::{CONNECTION, UPGRADE},
};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{ForwardError, Forwarder, Reader, Writer, cancelled};
use crate::{body::RequestBody, headers, upstream::LocalError};

/// Read buffer for the local service's side of an upgraded connection: one body frame at
/// most this big, so an interactive message leaves at once and a bulk one in few frames.
const READ_CHUNK: usize = 32 * 1024;

impl Forwarder {
    /// Asks the local service to switch to `protocol` and, if it does, pipes bytes both
    /// ways until both sides are done. Returns the local service's status.
    pub(super) async fn upgrade(
        &self,
        head: &RequestHead,
        protocol: HeaderValue,
        reader: &mut Reader,
        writer: &mut Writer,
    ) -> Result<u16, ForwardError> {
        // A switch is HTTP/1.1's, whatever the tunnel's protocol.
        let mut parts = self.request_parts(head, Version::HTTP_11)?;
        parts
            .headers
            .insert(CONNECTION, HeaderValue::from_static("upgrade"));
        parts.headers.insert(UPGRADE, protocol);
        let method = parts.method.clone();
        let request = Request::from_parts(parts, RequestBody::empty());
        let response = tokio::time::timeout(self.response_timeout, self.client.request(request))
            .await
            .map_err(|_| LocalError::Timeout {
                target: self.target.authority().to_owned(),
                after: self.response_timeout,
            })?
            .map_err(|err| LocalError::from_client(&err, &self.target))?;
        if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            return self.relay_response(response, &method, writer, None).await;
        }
        let mut answer = headers::from_header_map(response.headers());
        if let Some(value) = response.headers().get(UPGRADE) {
            answer.push(Header::new(
                "upgrade",
                Bytes::copy_from_slice(value.as_bytes()),
            ));
        }
        let upgraded = hyper::upgrade::on(response)
            .await
            .map_err(|err| LocalError::Protocol {
                target: self.target.authority().to_owned(),
                reason: format!("the protocol switch failed: {err}"),
            })?;
        writer
            .send_head(ResponseHead {
                status: StatusCode::SWITCHING_PROTOCOLS.as_u16(),
                headers: answer,
            })
            .await?;
        reader.learn_upgrade(writer.upgrade());
        let (local_read, local_write) = tokio::io::split(TokioIo::new(upgraded));
        let target = self.target.authority();
        tokio::try_join!(
            to_local(reader, local_write, target),
            to_gateway(local_read, writer, target),
        )?;
        Ok(StatusCode::SWITCHING_PROTOCOLS.as_u16())
    }
}

/// The visitor's bytes to the local service; its `EndOfBody` closes our write side.
async fn to_local(
    reader: &mut Reader,
    mut local: impl AsyncWrite + Unpin,
    target: &str,
) -> Result<(), ForwardError> {
    let broken = |err: std::io::Error| LocalError::BodyFailed {
        target: target.to_owned(),
        reason: format!("writing to the upgraded connection: {err}"),
    };
    loop {
        match reader.next().await? {
            Some(BodyEvent::Data(data)) => local.write_all(&data).await.map_err(broken)?,
            // The stream's rules end a pipe only after its EndOfBody.
            Some(BodyEvent::End(_)) | None => {
                local.shutdown().await.map_err(broken)?;
                return Ok(());
            }
            Some(BodyEvent::Reset(reset)) => return Err(cancelled(&reset).into()),
        }
    }
}

/// The local service's bytes to the gateway, forwarded as soon as they are read; its
/// end of stream becomes `EndOfBody`.
async fn to_gateway(
    mut local: impl AsyncRead + Unpin,
    writer: &mut Writer,
    target: &str,
) -> Result<(), ForwardError> {
    let mut buf = BytesMut::new();
    loop {
        buf.reserve(READ_CHUNK);
        let read = local
            .read_buf(&mut buf)
            .await
            .map_err(|err| LocalError::BodyFailed {
                target: target.to_owned(),
                reason: format!("reading the upgraded connection: {err}"),
            })?;
        if read == 0 {
            return Ok(writer.end(Vec::new()).await?);
        }
        writer.send_body(buf.split().freeze()).await?;
    }
}
