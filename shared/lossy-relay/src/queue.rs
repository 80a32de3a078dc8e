//! Timer queue of held-back datagrams, with a pool of reusable buffers.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use tokio::time::Instant;

/// Buffers kept for reuse at most; beyond that released buffers are freed.
const POOL_LIMIT: usize = 8192;
/// Capacity of a fresh buffer, enough for a typical datagram on an Ethernet-sized path.
const MIN_BUFFER: usize = 2048;

struct Entry<T> {
    at: Instant,
    seq: u64,
    data: Vec<u8>,
    target: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl<T> Eq for Entry<T> {}

impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Entry<T> {
    /// Reversed, so the max-heap pops the earliest release time, then the lowest sequence.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Datagrams waiting for their release time; equal times leave in insertion order.
pub(crate) struct DelayQueue<T> {
    heap: BinaryHeap<Entry<T>>,
    next_seq: u64,
    pool: Vec<Vec<u8>>,
}

impl<T> DelayQueue<T> {
    pub(crate) fn new() -> Self {
        Self {
            heap: BinaryHeap::new(),
            next_seq: 0,
            pool: Vec::new(),
        }
    }

    /// Copies `data` into a pooled buffer to be released to `target` at `at`.
    pub(crate) fn push(&mut self, at: Instant, data: &[u8], target: T) {
        let mut buffer = self
            .pool
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(data.len().max(MIN_BUFFER)));
        buffer.clear();
        buffer.extend_from_slice(data);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Entry {
            at,
            seq,
            data: buffer,
            target,
        });
    }

    /// Release time of the next datagram, if any.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|e| e.at)
    }

    /// Removes the next datagram due at or before `now`; hand its buffer back with
    /// [`recycle`](Self::recycle).
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Vec<u8>, T)> {
        if self.heap.peek()?.at > now {
            return None;
        }
        self.heap.pop().map(|e| (e.data, e.target))
    }

    /// Returns a buffer obtained from [`pop_due`](Self::pop_due) to the pool.
    pub(crate) fn recycle(&mut self, buffer: Vec<u8>) {
        if self.pool.len() < POOL_LIMIT {
            self.pool.push(buffer);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pops_by_time_then_insertion_order() {
        let mut q = DelayQueue::new();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        q.push(t0 + ms(5), b"late", 0);
        q.push(t0 + ms(1), b"a", 1);
        q.push(t0 + ms(1), b"b", 2);
        q.push(t0 + ms(1), b"c", 3);
        assert_eq!(q.next_deadline(), Some(t0 + ms(1)));
        assert!(q.pop_due(t0).is_none());
        let mut got = Vec::new();
        while let Some((data, target)) = q.pop_due(t0 + ms(2)) {
            got.push((data.clone(), target));
            q.recycle(data);
        }
        assert_eq!(
            got,
            vec![(b"a".to_vec(), 1), (b"b".to_vec(), 2), (b"c".to_vec(), 3)]
        );
        assert_eq!(q.len(), 1);
        assert_eq!(q.next_deadline(), Some(t0 + ms(5)));
        let (data, target) = q.pop_due(t0 + ms(5)).unwrap();
        assert_eq!((data.as_slice(), target), (&b"late"[..], 0));
        assert!(q.next_deadline().is_none());
    }

    #[test]
    fn buffers_are_reused() {
        let mut q = DelayQueue::new();
        let now = Instant::now();
        q.push(now, &[1; 1300], ());
        let (data, ()) = q.pop_due(now).unwrap();
        let ptr = data.as_ptr();
        q.recycle(data);
        q.push(now, &[2; 1200], ());
        let (data, ()) = q.pop_due(now).unwrap();
        assert_eq!(data.as_ptr(), ptr);
        assert_eq!(data, vec![2; 1200]);
    }
}
