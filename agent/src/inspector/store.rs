//! The captured exchanges: the newest `inspect_max_exchanges`, within a byte budget
//! (`inspect_budget_bytes`); the oldest are evicted first. A std mutex guards the ring and
//! is never held across an await; a watch channel carries the newest id, so a live view
//! wakes up and reads what it has not seen ([`Store::since`]) and nothing is queued per
//! exchange for anyone.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use tokio::sync::watch;

use super::{capture::Exchange, metrics::InspectorMetrics};

/// The bounds of a store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    pub(crate) max_exchanges: usize,
    pub(crate) budget_bytes: usize,
    pub(crate) body_prefix_bytes: usize,
}

#[derive(Debug, Default)]
struct Ring {
    exchanges: VecDeque<Arc<Exchange>>,
    bytes: usize,
    next_id: u64,
}

/// The captured exchanges, oldest first.
#[derive(Debug)]
pub(crate) struct Store {
    ring: Mutex<Ring>,
    bounds: Bounds,
    newest: watch::Sender<u64>,
    metrics: InspectorMetrics,
}

impl Store {
    pub(crate) fn new(bounds: Bounds, metrics: InspectorMetrics) -> Self {
        Self {
            ring: Mutex::new(Ring::default()),
            bounds,
            newest: watch::Sender::new(0),
            metrics,
        }
    }

    pub(crate) fn body_prefix_bytes(&self) -> usize {
        self.bounds.body_prefix_bytes
    }

    pub(crate) fn metrics(&self) -> &InspectorMetrics {
        &self.metrics
    }

    fn ring(&self) -> MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores a finished exchange under the next id (from 1), evicting the oldest while
    /// over a bound; its id.
    pub(crate) fn push(&self, mut exchange: Exchange) -> u64 {
        let size = exchange.size();
        let id = {
            let mut ring = self.ring();
            ring.next_id += 1;
            exchange.id = ring.next_id;
            ring.exchanges.push_back(Arc::new(exchange));
            ring.bytes += size;
            while ring.exchanges.len() > self.bounds.max_exchanges
                || ring.bytes > self.bounds.budget_bytes
            {
                let Some(oldest) = ring.exchanges.pop_front() else {
                    break;
                };
                ring.bytes -= oldest.size();
                self.metrics.evicted.inc();
            }
            self.metrics.capture_bytes.set(ring.bytes as i64);
            ring.next_id
        };
        self.metrics.captured.inc();
        self.newest.send_replace(id);
        id
    }

    /// Every exchange kept, newest first.
    pub(crate) fn newest_first(&self) -> Vec<Arc<Exchange>> {
        self.ring().exchanges.iter().rev().cloned().collect()
    }

    /// The exchanges kept with an id above `after`, oldest first.
    pub(crate) fn since(&self, after: u64) -> Vec<Arc<Exchange>> {
        let ring = self.ring();
        let newer = ring.exchanges.partition_point(|e| e.id <= after);
        ring.exchanges.range(newer..).cloned().collect()
    }

    /// Exchange `id`, if still kept.
    pub(crate) fn get(&self, id: u64) -> Option<Arc<Exchange>> {
        let ring = self.ring();
        let at = ring.exchanges.binary_search_by_key(&id, |e| e.id).ok()?;
        ring.exchanges.get(at).cloned()
    }

    /// Follows the newest id.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.newest.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use hopgate_protocol::{HttpVersion, RequestHead};

    use super::*;
    use crate::inspector::capture::Capture;

    fn store(max_exchanges: usize, budget_bytes: usize) -> Arc<Store> {
        let bounds = Bounds {
            max_exchanges,
            budget_bytes,
            body_prefix_bytes: 1024,
        };
        Arc::new(Store::new(bounds, InspectorMetrics::default()))
    }

    fn record(store: &Arc<Store>, path: &str, body: &[u8]) -> u64 {
        let head = RequestHead {
            request_id: "r".into(),
            method: "POST".into(),
            uri: path.into(),
            version: HttpVersion::Http11,
            headers: Vec::new(),
        };
        let mut capture = Capture::new(store.clone(), "a.example.com".into());
        capture.taps().0.tee(body);
        capture.finish(head, Ok(200))
    }

    #[test]
    fn the_newest_are_kept_within_the_count() {
        let store = store(3, usize::MAX);
        for i in 1..=5 {
            assert_eq!(record(&store, &format!("/{i}"), b""), i);
        }
        let paths: Vec<_> = store
            .newest_first()
            .iter()
            .map(|e| e.request.uri.clone())
            .collect();
        assert_eq!(paths, ["/5", "/4", "/3"]);
        assert_eq!(store.metrics().evicted.get(), 2);
        assert!(store.get(2).is_none());
        assert_eq!(store.get(4).unwrap().request.uri, "/4");
        let since: Vec<_> = store.since(3).iter().map(|e| e.id).collect();
        assert_eq!(since, [4, 5]);
    }

    #[test]
    fn the_byte_budget_evicts_the_oldest() {
        let store = store(1000, 8 * 1024);
        for i in 0..20 {
            record(&store, &format!("/{i}"), &[b'x'; 1024]);
        }
        let bytes = store.metrics().capture_bytes.get() as usize;
        assert!(bytes <= 8 * 1024, "{bytes}");
        let kept = store.newest_first();
        assert!(kept.len() < 8 && kept.len() >= 4, "{}", kept.len());
        assert_eq!(kept[0].request.uri, "/19");
    }
}
