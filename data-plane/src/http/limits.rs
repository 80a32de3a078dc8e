//! Fair share of the pod between tenants and visitors: caps on the requests in flight per
//! domain (`HOP_SERVER_MAX_REQUESTS_PER_DOMAIN`) and per client
//! (`HOP_SERVER_MAX_REQUESTS_PER_CLIENT`), so one visitor can't take all of a domain's
//! streams and one domain's trouble stays its own.
//!
//! A request is counted from its admission until its answer's body ends or the visitor
//! goes away (the [`Permit`] rides in the response body); an upgraded WebSocket counts
//! while it is open. The counters are sharded concurrent maps whose entries exist only
//! while something is counted, so admission takes no global lock and the maps never
//! outgrow the requests in flight.
//!
//! The client is the TCP peer (forwarding headers from visitors are not trusted). An IPv6
//! client is counted by its /64, the block one subscriber gets, so changing addresses
//! inside it doesn't buy more requests.

use std::{
    hash::Hash,
    net::{IpAddr, Ipv6Addr},
    sync::Arc,
};

use actix_web::HttpResponse;
use dashmap::{DashMap, mapref::entry::Entry};

use crate::http::guarded_body;

/// Which cap refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Busy {
    /// The domain has its most requests in flight.
    Domain,
    /// The client has its most requests in flight.
    Client,
}

impl Busy {
    /// The `hopgate_rejected_total{reason}` label.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::Domain => "domain_busy",
            Self::Client => "client_busy",
        }
    }
}

/// The counters of requests in flight, one per pod.
pub(crate) struct RequestCaps {
    per_domain: u32,
    per_client: u32,
    domains: DashMap<String, u32>,
    clients: DashMap<IpAddr, u32>,
}

impl RequestCaps {
    /// Caps of `per_domain` and `per_client` requests in flight (each at least 1).
    pub(crate) fn new(per_domain: u32, per_client: u32) -> Arc<Self> {
        Arc::new(Self {
            per_domain: per_domain.max(1),
            per_client: per_client.max(1),
            domains: DashMap::new(),
            clients: DashMap::new(),
        })
    }

    /// Admits a visitor's request from `client` (the TCP peer; `None` when the listener
    /// has no peer address, so no client cap applies) for `domain`, or says which cap it is
    /// over.
    pub(crate) fn admit(
        self: &Arc<Self>,
        client: Option<IpAddr>,
        domain: &str,
    ) -> Result<Permit, Busy> {
        let client = client.map(client_key);
        if let Some(client) = client
            && !take(&self.clients, client, self.per_client)
        {
            return Err(Busy::Client);
        }
        // From here on, dropping the permit gives the client's place back.
        let mut permit = Permit {
            caps: self.clone(),
            client,
            domain: None,
        };
        if !take(&self.domains, domain.to_owned(), self.per_domain) {
            return Err(Busy::Domain);
        }
        permit.domain = Some(domain.to_owned());
        Ok(permit)
    }

    /// Admits a request another pod relayed here: the relaying pod counted its client, so
    /// only the domain (whose session streams this pod owns) is counted here.
    pub(crate) fn admit_relayed(self: &Arc<Self>, domain: &str) -> Result<Permit, Busy> {
        if !take(&self.domains, domain.to_owned(), self.per_domain) {
            return Err(Busy::Domain);
        }
        Ok(Permit {
            caps: self.clone(),
            client: None,
            domain: Some(domain.to_owned()),
        })
    }

    /// Requests in flight for `domain` (for tests and diagnostics).
    #[cfg(test)]
    fn domain_count(&self, domain: &str) -> u32 {
        self.domains.get(domain).map_or(0, |n| *n)
    }
}

/// One admitted request; gives its place back when dropped.
pub(crate) struct Permit {
    caps: Arc<RequestCaps>,
    client: Option<IpAddr>,
    domain: Option<String>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            give_back(&self.caps.clients, client);
        }
        if let Some(domain) = self.domain.take() {
            give_back(&self.caps.domains, domain);
        }
    }
}

/// `response` with `permit` held until its body ends or the visitor goes away.
pub(crate) fn hold(response: HttpResponse, permit: Permit) -> HttpResponse {
    guarded_body::guard(response, permit).map_into_boxed_body()
}

/// Counts one more under `key` unless it already has `cap` (at least 1).
pub(crate) fn take<K: Hash + Eq>(map: &DashMap<K, u32>, key: K, cap: u32) -> bool {
    let mut count = map.entry(key).or_insert(0);
    if *count >= cap {
        // `cap` is at least 1, so this entry counts something: nothing empty is left.
        return false;
    }
    *count += 1;
    true
}

/// Counts one less under `key`, forgetting it at zero.
pub(crate) fn give_back<K: Hash + Eq>(map: &DashMap<K, u32>, key: K) {
    if let Entry::Occupied(mut entry) = map.entry(key) {
        let count = entry.get_mut();
        *count = count.saturating_sub(1);
        if *count == 0 {
            entry.remove();
        }
    }
}

/// What a client is counted as: an IPv4 address (also when written as IPv4-mapped IPv6),
/// or an IPv6 address's /64.
pub(crate) fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_client_over_its_cap_is_busy_and_others_are_not() {
        let caps = RequestCaps::new(10, 2);
        let held: Vec<Permit> = (0..2)
            .map(|_| caps.admit(Some(ip("192.0.2.1")), "a.test").unwrap())
            .collect();
        assert_eq!(
            caps.admit(Some(ip("192.0.2.1")), "b.test").err(),
            Some(Busy::Client)
        );
        assert!(caps.admit(Some(ip("192.0.2.2")), "a.test").is_ok());
        drop(held);
        assert!(caps.admit(Some(ip("192.0.2.1")), "a.test").is_ok());
    }

    #[test]
    fn a_domain_over_its_cap_is_busy_and_gives_the_client_its_place_back() {
        let caps = RequestCaps::new(2, 10);
        let held: Vec<Permit> = (1..=2)
            .map(|i| {
                caps.admit(Some(ip(&format!("192.0.2.{i}"))), "a.test")
                    .unwrap()
            })
            .collect();
        assert_eq!(
            caps.admit(Some(ip("192.0.2.9")), "a.test").err(),
            Some(Busy::Domain)
        );
        assert!(!caps.clients.contains_key(&ip("192.0.2.9")));
        assert_eq!(caps.admit_relayed("a.test").err(), Some(Busy::Domain));
        assert!(caps.admit(Some(ip("192.0.2.9")), "b.test").is_ok());
        drop(held);
        assert_eq!(caps.domain_count("a.test"), 0);
    }

    #[test]
    fn entries_are_removed_at_zero() {
        let caps = RequestCaps::new(4, 4);
        let permits: Vec<Permit> = (0..3)
            .map(|_| caps.admit(Some(ip("2001:db8::1")), "a.test").unwrap())
            .chain([caps.admit_relayed("a.test").unwrap()])
            .collect();
        assert_eq!(caps.domain_count("a.test"), 4);
        drop(permits);
        assert!(caps.domains.is_empty() && caps.clients.is_empty());
    }

    #[test]
    fn an_ipv6_client_is_its_64_and_a_mapped_ipv4_is_the_ipv4() {
        assert_eq!(client_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(client_key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(client_key(ip("192.0.2.7")), ip("192.0.2.7"));
        let caps = RequestCaps::new(10, 1);
        let _held = caps.admit(Some(ip("2001:db8:1:2::1")), "a.test").unwrap();
        assert_eq!(
            caps.admit(Some(ip("2001:db8:1:2::ffff")), "a.test").err(),
            Some(Busy::Client)
        );
    }
}
