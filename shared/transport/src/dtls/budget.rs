//! How many DTLS handshakes may be in progress: in all, and from one source IP, so that
//! one address (even one that answers cookies) cannot fill the table other agents need.

use std::{collections::HashMap, net::IpAddr};

/// Why a handshake was not started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The listener-wide limit on handshakes or associations.
    Global,
    /// The limit for one source IP.
    PerIp,
}

/// Handshakes in progress, in all and by source IP.
#[derive(Debug)]
pub(crate) struct HandshakeBudget {
    max_total: usize,
    max_per_ip: usize,
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

impl HandshakeBudget {
    pub(crate) fn new(max_total: usize, max_per_ip: usize) -> Self {
        Self {
            max_total,
            max_per_ip,
            total: 0,
            per_ip: HashMap::new(),
        }
    }

    pub(crate) fn in_progress(&self) -> usize {
        self.total
    }

    /// Counts one more handshake from `ip`, if the limits allow it.
    pub(crate) fn reserve(&mut self, ip: IpAddr) -> Result<(), Refusal> {
        if self.total >= self.max_total {
            return Err(Refusal::Global);
        }
        let from_ip = self.per_ip.entry(ip).or_default();
        if *from_ip >= self.max_per_ip {
            return Err(Refusal::PerIp);
        }
        *from_ip += 1;
        self.total += 1;
        Ok(())
    }

    /// A handshake from `ip` finished, failed or was forgotten.
    pub(crate) fn release(&mut self, ip: IpAddr) {
        if let Some(from_ip) = self.per_ip.get_mut(&ip) {
            *from_ip -= 1;
            self.total -= 1;
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
        let mut budget = HandshakeBudget::new(10, 2);
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
        let mut budget = HandshakeBudget::new(2, 2);
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
}
