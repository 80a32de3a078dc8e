//! How many DTLS handshakes may be in progress: in all, and from one source IP, so that
//! one address (even one that answers cookies) cannot fill the table other agents need.
//! The total is shared by every table of a listener (one per socket of its group); all of
//! one IP's handshakes are in one table ([`crate::reuseport`]), so its count is the table's.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

/// Why a handshake was not started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The listener-wide limit on handshakes or associations.
    Global,
    /// The limit for one source IP.
    PerIp,
}

/// Handshakes in progress: this table's by source IP, and the listener's in all.
#[derive(Debug)]
pub(crate) struct HandshakeBudget {
    max_total: usize,
    max_per_ip: usize,
    /// This table's.
    total: usize,
    /// Every table's of the listener.
    listener_total: Arc<AtomicUsize>,
    per_ip: HashMap<IpAddr, usize>,
}

impl HandshakeBudget {
    /// A budget whose total counts in `listener_total`, with the other tables'.
    pub(crate) fn new(
        max_total: usize,
        max_per_ip: usize,
        listener_total: Arc<AtomicUsize>,
    ) -> Self {
        Self {
            max_total,
            max_per_ip,
            total: 0,
            listener_total,
            per_ip: HashMap::new(),
        }
    }

    /// This table's handshakes in progress.
    pub(crate) fn in_progress(&self) -> usize {
        self.total
    }

    /// Counts one more handshake from `ip`, if the limits allow it.
    pub(crate) fn reserve(&mut self, ip: IpAddr) -> Result<(), Refusal> {
        let from_ip = self.per_ip.get(&ip).copied().unwrap_or(0);
        if from_ip >= self.max_per_ip {
            return Err(Refusal::PerIp);
        }
        self.listener_total
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |total| {
                (total < self.max_total).then_some(total + 1)
            })
            .map_err(|_| Refusal::Global)?;
        *self.per_ip.entry(ip).or_default() += 1;
        self.total += 1;
        Ok(())
    }

    /// A handshake from `ip` finished, failed or was forgotten.
    pub(crate) fn release(&mut self, ip: IpAddr) {
        if let Some(from_ip) = self.per_ip.get_mut(&ip) {
            *from_ip -= 1;
            self.total -= 1;
            self.listener_total.fetch_sub(1, Ordering::Relaxed);
            if *from_ip == 0 {
                self.per_ip.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_ip_cannot_take_more_than_its_share() {
        let mut budget = HandshakeBudget::new(10, 2, Arc::default());
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(budget.reserve(a), Ok(()));
        assert_eq!(budget.reserve(a), Ok(()));
        assert_eq!(budget.reserve(a), Err(Refusal::PerIp));
        assert_eq!(budget.reserve(b), Ok(()));
        budget.release(a);
        assert_eq!(budget.reserve(a), Ok(()));
        assert_eq!(budget.in_progress(), 3);
    }

    #[test]
    fn the_global_limit_still_holds() {
        let mut budget = HandshakeBudget::new(2, 2, Arc::default());
        for last in 1..=2u8 {
            budget.reserve(IpAddr::from([192, 0, 2, last])).unwrap();
        }
        assert_eq!(
            budget.reserve("192.0.2.9".parse().unwrap()),
            Err(Refusal::Global)
        );
        budget.release("192.0.2.1".parse().unwrap());
        budget.release("192.0.2.7".parse().unwrap());
        assert_eq!(budget.in_progress(), 1);
    }

    #[test]
    fn the_global_limit_holds_across_the_tables_of_a_listener() {
        let listener_total = Arc::new(AtomicUsize::new(0));
        let mut first = HandshakeBudget::new(3, 2, listener_total.clone());
        let mut second = HandshakeBudget::new(3, 2, listener_total.clone());
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        first.reserve(a).unwrap();
        first.reserve(a).unwrap();
        second.reserve(b).unwrap();
        assert_eq!(second.reserve(b), Err(Refusal::Global));
        assert_eq!(first.reserve(b), Err(Refusal::Global));
        first.release(a);
        assert_eq!(second.reserve(b), Ok(()));
        assert_eq!(
            (first.in_progress(), second.in_progress()),
            (1, 2),
            "each table counts its own"
        );
        assert_eq!(listener_total.load(Ordering::Relaxed), 3);
        // A release for an IP the table never counted changes nothing.
        second.release(a);
        assert_eq!(listener_total.load(Ordering::Relaxed), 3);
    }
}
