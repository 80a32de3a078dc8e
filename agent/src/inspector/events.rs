//! `GET /api/events`: server-sent events, one `exchange` event (the summary as JSON, its id
//! as the event's id) for each exchange stored after `?after=ID` (or after the stream
//! opened), and a comment every [`PING_EVERY`] so a dead client is noticed. The stream
//! wakes on the store's newest id and reads what it hasn't sent: nothing is queued for a
//! slow reader, who just skips the exchanges evicted meanwhile.

use std::{convert::Infallible, sync::Arc, time::Duration};

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use http::{Response, StatusCode, header};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use tokio::sync::watch;

use super::{
    api::{Reply, whole},
    store::Store,
    view::Summary,
};

/// How often an idle stream sends a comment.
const PING_EVERY: Duration = Duration::from_secs(15);

struct Follow {
    store: Arc<Store>,
    newest: watch::Receiver<u64>,
    sent: u64,
}

/// The event stream, from the exchange after `after` (default: the newest now).
pub(super) fn answer(store: Arc<Store>, after: Option<u64>) -> Response<Reply> {
    let newest = store.subscribe();
    let sent = after.unwrap_or_else(|| *newest.borrow());
    let follow = Follow {
        store,
        newest,
        sent,
    };
    let first = stream::once(async { Bytes::from_static(b"retry: 1000\n\n") });
    let events = stream::unfold(follow, |mut follow| async move {
        let chunk = follow.next().await?;
        Some((chunk, follow))
    });
    let body = StreamBody::new(
        first
            .chain(events)
            .map(|chunk| Ok::<_, Infallible>(Frame::data(chunk))),
    );
    let mut response = whole(StatusCode::OK, "text/event-stream", Bytes::new());
    *response.body_mut() = body.boxed_unsync();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

impl Follow {
    /// The next chunk: the events not yet sent, or a ping; `None` when the store is gone.
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            let fresh = self.store.since(self.sent);
            if let Some(last) = fresh.last() {
                self.sent = last.id;
                let mut text = String::new();
                for exchange in &fresh {
                    let data = serde_json::to_string(&Summary::of(exchange)).ok()?;
                    text.push_str(&format!(
                        "id: {}\nevent: exchange\ndata: {data}\n\n",
                        exchange.id
                    ));
                }
                return Some(Bytes::from(text));
            }
            tokio::select! {
                changed = self.newest.changed() => changed.ok()?,
                () = tokio::time::sleep(PING_EVERY) => return Some(Bytes::from_static(b": ping\n\n")),
            }
        }
    }
}
