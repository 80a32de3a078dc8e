//! Capturing one exchange as it passes: the request's head, a bounded prefix of each body
//! teed from the chunks streaming by ([`BodyPrefix`]), the answer's head, and how it ended.
//! Nothing here waits or takes a lock: the forward path pays one copy of at most
//! `inspect_body_prefix_bytes` per body and a copy of the answer's head; the request's
//! head is handed over at the end, when the forward path is done with it, and the
//! finished exchange goes to the [`Store`] once.

use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use hopgate_protocol::{Header, HttpVersion, RequestHead};

use super::store::Store;

/// The first bytes of a body, at most a limit, and how many bytes the body had in all.
#[derive(Debug, Clone, Default)]
pub(crate) struct BodyPrefix {
    kept: Vec<u8>,
    limit: usize,
    total: u64,
}

impl BodyPrefix {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            kept: Vec::new(),
            limit,
            total: 0,
        }
    }

    /// Counts `chunk` and keeps what fits under the limit. Allocates only while the prefix
    /// is filling: once, exactly, for a body that comes in one chunk; doubling (never past
    /// the limit) for one in several.
    pub(crate) fn tee(&mut self, chunk: &[u8]) {
        self.total += chunk.len() as u64;
        let take = (self.limit - self.kept.len()).min(chunk.len());
        if take == 0 {
            return;
        }
        let needed = self.kept.len() + take;
        if needed > self.kept.capacity() {
            let target = self.limit.min(needed.max(2 * self.kept.capacity()));
            self.kept.reserve_exact(target - self.kept.len());
        }
        self.kept.extend_from_slice(&chunk[..take]);
    }

    /// The bytes kept.
    pub(crate) fn kept(&self) -> &[u8] {
        &self.kept
    }

    /// The body's whole size.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// Bytes of the body that were not kept.
    pub(crate) fn missing(&self) -> u64 {
        self.total - self.kept.len() as u64
    }

    /// Gives back what the prefix allocated beyond its bytes (a body that came in
    /// several small chunks), so the budget counts what is kept.
    fn shrink(&mut self) {
        if self.kept.capacity() > self.kept.len() {
            self.kept.shrink_to_fit();
        }
    }

    /// The memory it holds.
    fn size(&self) -> usize {
        self.kept.capacity()
    }
}

/// The answer as captured.
#[derive(Debug, Clone, Default)]
pub(crate) struct ResponseCapture {
    pub(crate) status: Option<u16>,
    pub(crate) headers: Vec<Header>,
    pub(crate) body: BodyPrefix,
}

impl ResponseCapture {
    /// The answer's head, as it goes to the gateway.
    pub(crate) fn head(&mut self, status: u16, headers: &[Header]) {
        self.status = Some(status);
        self.headers = headers.to_vec();
    }
}

/// One exchange finished, as the store keeps it.
#[derive(Debug)]
pub(crate) struct Exchange {
    /// Set by the store, in the order exchanges finish.
    pub(crate) id: u64,
    /// The exchange this one replayed.
    pub(crate) replay_of: Option<u64>,
    pub(crate) domain: Arc<str>,
    pub(crate) started_at: SystemTime,
    pub(crate) duration: Duration,
    pub(crate) request: RequestHead,
    pub(crate) request_body: BodyPrefix,
    pub(crate) response: ResponseCapture,
    /// Why it failed (the local service's error, the visitor going away), if it did.
    pub(crate) error: Option<String>,
}

impl Exchange {
    /// The memory it holds, about: what the budget counts.
    pub(crate) fn size(&self) -> usize {
        let heads: usize = [&self.request.headers, &self.response.headers]
            .into_iter()
            .flatten()
            .map(|h| h.name.len() + h.value.len() + 32)
            .sum();
        std::mem::size_of::<Self>()
            + self.request.uri.len()
            + self.request.method.len()
            + self.error.as_ref().map_or(0, String::len)
            + heads
            + self.request_body.size()
            + self.response.body.size()
    }
}

/// An exchange being captured; [`Capture::finish`] hands it to the store.
#[derive(Debug)]
pub(crate) struct Capture {
    store: Arc<Store>,
    started: Instant,
    exchange: Exchange,
}

impl Capture {
    /// Starts capturing; the request's head comes at the end ([`Capture::finish`]), when the
    /// forward path no longer needs it.
    pub(crate) fn new(store: Arc<Store>, domain: Arc<str>) -> Self {
        let prefix = store.body_prefix_bytes();
        Self {
            store,
            started: Instant::now(),
            exchange: Exchange {
                id: 0,
                replay_of: None,
                domain,
                started_at: SystemTime::now(),
                duration: Duration::ZERO,
                request: RequestHead {
                    request_id: String::new(),
                    method: String::new(),
                    uri: String::new(),
                    version: HttpVersion::Http11,
                    headers: Vec::new(),
                },
                request_body: BodyPrefix::new(prefix),
                response: ResponseCapture {
                    body: BodyPrefix::new(prefix),
                    ..ResponseCapture::default()
                },
                error: None,
            },
        }
    }

    /// Marks it as a replay of exchange `of`.
    pub(crate) fn replay_of(mut self, of: u64) -> Self {
        self.exchange.replay_of = Some(of);
        self
    }

    /// The two taps, request body and answer, borrowed apart: the forward path fills them
    /// from two concurrent halves.
    pub(crate) fn taps(&mut self) -> (&mut BodyPrefix, &mut ResponseCapture) {
        (&mut self.exchange.request_body, &mut self.exchange.response)
    }

    /// Records the request and how it ended (the status, or why there was none) and stores
    /// it; the stored exchange's id.
    pub(crate) fn finish(mut self, request: RequestHead, outcome: Result<u16, String>) -> u64 {
        self.exchange.duration = self.started.elapsed();
        self.exchange.request = request;
        self.exchange.request_body.shrink();
        self.exchange.response.body.shrink();
        match outcome {
            Ok(status) => self.exchange.response.status = Some(status),
            Err(error) => self.exchange.error = Some(error),
        }
        self.store.push(self.exchange)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_keeps_the_first_bytes_and_counts_the_rest() {
        let mut prefix = BodyPrefix::new(10);
        prefix.tee(b"hello ");
        prefix.tee(b"world, and more");
        assert_eq!(prefix.kept(), b"hello worl");
        assert_eq!(prefix.total(), 21);
        assert_eq!(prefix.missing(), 11);
        assert_eq!(prefix.size(), 10, "grown to the limit, not past it");
        let mut whole = BodyPrefix::new(1024);
        whole.tee(b"small");
        assert_eq!(whole.size(), 5, "one chunk: allocated once, exactly");
        let mut nothing = BodyPrefix::new(0);
        nothing.tee(b"abc");
        assert_eq!((nothing.kept().len(), nothing.total()), (0, 3));
    }
}
