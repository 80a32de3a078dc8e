//! Authenticated address migration: an agent behind a NAT that rebinds (its packets suddenly
//! come from a new source port) keeps its association, and so its session.
//!
//! A datagram from an address with no association, that is not a ClientHello, is tried as a
//! *moved* peer only when all of this holds:
//! - it is exactly one application-data record of an established epoch (what every packet
//!   of the stream layer is); handshake and alert records are never tried;
//! - an established association from the **same IP** has seen this epoch and this record
//!   is **newer than every record it has accepted** (stricter than the replay window: a
//!   replayed or late record from the old path can never move anything, and is refused
//!   before any decryption);
//! - the source IP still has a token in its bucket ([`MigrationLimits::attempts_per_ip_per_s`]);
//! - it authenticates under one of the [`MigrationLimits::candidates`] most recently active
//!   of those associations.
//!
//! The trial is the association's ordinary read: rtc-dtls checks its replay window, then the
//! AEAD tag, and silently discards a record that fails (RFC 6347 §4.1.2.7) without touching
//! any state (the AEAD open is stateless; the replay window only advances for a record that
//! authenticated). A record that passes has been processed exactly once, by that read; the
//! association then moves to the new address and its payload goes up with the new address,
//! where the stream layer (QUIC) validates the new path and carries on.
//!
//! Anything else is dropped and counted, as before. An agent whose IP changed (not just its
//! port) is not matched: its session goes silent and it reconnects.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    time::Instant,
};

use bytes::BytesMut;
use rtc_dtls::endpoint::EndpointEvent;

use super::{DtlsTable, Output, drain_transmits, wire};

/// How much the table spends on records from unknown ports of a known IP.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MigrationLimits {
    /// Associations of the source IP a record is tried against (the most recently active);
    /// 0 turns migration off.
    pub(crate) candidates: usize,
    /// Trials a source IP may cause per second (a token bucket holding one second's worth).
    pub(crate) attempts_per_ip_per_s: u32,
}

impl MigrationLimits {
    /// No migration: the agent's side, whose one peer is the gateway.
    pub(crate) const OFF: Self = Self {
        candidates: 0,
        attempts_per_ip_per_s: 0,
    };
}

/// What became of records from unknown ports of IPs with established associations.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct MigrationCounters {
    /// An association moved to the record's address.
    pub(crate) moved: u64,
    /// No candidate authenticated the record: forged, or garbage.
    pub(crate) unauthenticated: u64,
    /// No association of that IP could take the record as its newest: replayed, late from
    /// the old path, or another epoch.
    pub(crate) stale: u64,
    /// The source IP had used up its trials for now.
    pub(crate) rate_limited: u64,
}

/// One token bucket per source IP that has tried a migration lately.
#[derive(Default)]
pub(super) struct TrialBuckets {
    buckets: HashMap<IpAddr, Bucket>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl TrialBuckets {
    /// Takes one token from `ip`'s bucket, if it has one.
    fn take(&mut self, ip: IpAddr, now: Instant, per_s: u32) -> bool {
        let capacity = f64::from(per_s);
        let bucket = self.buckets.entry(ip).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let refill = now.duration_since(bucket.at).as_secs_f64() * capacity;
        bucket.tokens = (bucket.tokens + refill).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Forgets the buckets that have refilled: they hold nothing a new one wouldn't.
    pub(super) fn prune(&mut self, now: Instant, per_s: u32) {
        let capacity = f64::from(per_s);
        self.buckets
            .retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * capacity < capacity);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.buckets.len()
    }
}

impl DtlsTable {
    /// Tries `datagram`, from an address with no association, as a record of an association
    /// of the same IP that moved. `false` when the datagram is no candidate at all (the
    /// caller drops it as unsolicited); `true` when it was taken: moved, or dropped and
    /// counted here.
    pub(super) fn try_migrate(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &BytesMut,
        deliver: &mut impl FnMut(SocketAddr, BytesMut),
        out: &mut Output,
    ) -> bool {
        let limits = self.limits.migration;
        if limits.candidates == 0 {
            return false;
        }
        let Some(record) = wire::sole_application_record(datagram) else {
            return false;
        };
        let mut established = false;
        let mut fresh: Vec<(Instant, SocketAddr)> = Vec::new();
        for addr in self.peers.at_ip(from.ip()) {
            let Some(peer) = self.peers.get(addr).filter(|p| !p.handshaking()) else {
                continue;
            };
            established = true;
            if peer.newest_rx.is_some_and(|newest| {
                newest.epoch == record.epoch && record.sequence > newest.sequence
            }) {
                fresh.push((peer.last_rx, *addr));
            }
        }
        if !established {
            return false;
        }
        if fresh.is_empty() {
            self.counters.migration.stale += 1;
            return true;
        }
        if !self
            .trial_buckets
            .take(from.ip(), now, limits.attempts_per_ip_per_s)
        {
            self.counters.migration.rate_limited += 1;
            return true;
        }
        fresh.sort_unstable_by_key(|&(last_rx, _)| std::cmp::Reverse(last_rx));
        fresh.truncate(limits.candidates);
        for (_, addr) in fresh {
            let data = self.trial_read(now, addr, datagram, out);
            if data.is_empty() {
                continue;
            }
            let Some(peer) = self.peers.relocate(addr, from) else {
                return true;
            };
            peer.last_rx = now;
            peer.newest_rx = Some(record);
            self.counters.migration.moved += 1;
            tracing::info!(id = peer.id, from = %addr, to = %from, "DTLS association moved to its peer's new address");
            for payload in data {
                deliver(from, payload);
            }
            return true;
        }
        self.counters.migration.unauthenticated += 1;
        tracing::debug!(peer = %from, len = datagram.len(), "dropped a DTLS record from a new port: no association of its IP authenticated it");
        true
    }

    /// Reads `datagram` into the association at `addr` as its own; what it decrypted, if it
    /// authenticated. A record that does not is discarded by rtc-dtls with no state change.
    fn trial_read(
        &mut self,
        now: Instant,
        addr: SocketAddr,
        datagram: &BytesMut,
        out: &mut Output,
    ) -> Vec<BytesMut> {
        let Some(peer) = self.peers.get_mut(&addr) else {
            return Vec::new();
        };
        let Some(dtls) = peer.dtls.as_deref_mut() else {
            return Vec::new();
        };
        let result = dtls.read(now, peer.dtls_addr, None, datagram.clone());
        // An application-data record never makes rtc-dtls answer; if it ever did, the answer
        // goes to the association's address, not to the untrusted sender.
        drain_transmits(dtls, addr, out);
        let Ok(events) = result else {
            return Vec::new();
        };
        events
            .into_iter()
            .filter_map(|event| match event {
                EndpointEvent::ApplicationData(data) => Some(data),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_bucket_holds_one_second_of_trials_and_refills() {
        let mut buckets = TrialBuckets::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let now = Instant::now();
        assert!((0..4).all(|_| buckets.take(ip, now, 4)));
        assert!(!buckets.take(ip, now, 4));
        assert!(buckets.take("192.0.2.2".parse().unwrap(), now, 4), "per IP");
        assert!(buckets.take(ip, now + Duration::from_millis(250), 4));
        assert!(!buckets.take(ip, now + Duration::from_millis(250), 4));
        buckets.prune(now + Duration::from_millis(500), 4);
        assert_eq!(buckets.len(), 1, "the other IP's bucket had refilled");
        buckets.prune(now + Duration::from_secs(2), 4);
        assert_eq!(buckets.len(), 0);
    }
}
