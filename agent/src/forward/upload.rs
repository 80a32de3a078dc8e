//! The request body's way to the local service: fed from the gateway's frames while the
//! answer is written, teed into the inspector's capture when one runs, and watched for the
//! gateway's reset or end.

use bytes::Bytes;
use hopgate_protocol::BodyEvent;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::watch;

use super::{GatewayError, Reader, cancelled};
use crate::{body::BodySender, headers, inspector::BodyPrefix};

/// How the watch over the request stream ended.
pub(super) enum StreamEnd {
    /// The body was delivered and the gateway finished the stream.
    Done,
    /// The exchange can't go on.
    Failed(GatewayError),
}

/// Feeds the request body (starting with `first`, already read) to the local request, then
/// waits for the gateway to finish the stream; a Reset or a broken stream at any point
/// ends the exchange.
pub(super) async fn watch_request_stream(
    reader: &mut Reader,
    mut sender: Option<BodySender>,
    mut first: Option<BodyEvent>,
    body_done: watch::Sender<bool>,
    bytes_in: &Counter,
    mut tap: Option<&mut BodyPrefix>,
) -> StreamEnd {
    loop {
        let event = match first.take() {
            Some(event) => event,
            None => match reader.next().await {
                Ok(Some(event)) => event,
                Ok(None) => return StreamEnd::Done,
                Err(err) => return StreamEnd::Failed(err),
            },
        };
        match event {
            // The sender may be gone if hyper stopped reading the body.
            BodyEvent::Data(data) => {
                bytes_in.inc_by(data.len() as u64);
                if let Some(tap) = &mut tap {
                    tap.tee(&data);
                }
                feed(&mut sender, data).await
            }
            BodyEvent::End(end) => {
                let trailers = match end.trailers.is_empty() {
                    true => None,
                    false => match headers::to_header_map(&end.trailers) {
                        Ok(map) => Some(map),
                        Err(e) => {
                            return StreamEnd::Failed(GatewayError::Protocol(format!(
                                "trailers: {e}"
                            )));
                        }
                    },
                };
                if let Some(sender) = sender.take() {
                    sender.finish(trailers).await;
                }
                body_done.send_replace(true);
            }
            BodyEvent::Reset(reset) => return StreamEnd::Failed(cancelled(&reset)),
        }
    }
}

/// Queues a chunk for the local request; once hyper stops reading the body (the local
/// service answered without reading it all), later chunks are discarded.
async fn feed(sender: &mut Option<BodySender>, data: Bytes) {
    if let Some(tx) = sender
        && !tx.data(data).await
    {
        // Dropping without `finish` would fail a body hyper no longer reads: harmless.
        *sender = None;
    }
}
