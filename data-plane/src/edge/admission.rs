//! Admission of visitors' TCP connections, before any byte is read: caps on the connections
//! one client IP may hold open (`HOP_SERVER_MAX_CONNECTIONS_PER_IP`) and on its TLS
//! handshakes in progress (`HOP_SERVER_MAX_HANDSHAKES_PER_IP`), so one address can't take
//! the listener's time or memory from everyone else.
//!
//! A connection over a cap is closed at once rather than queued: a queue would hold the
//! attacker's sockets and slow every visitor behind them. The client is the TCP peer, an
//! IPv6 client its /64 (as for the request caps in [`crate::http::limits`]). Counters are sharded
//! maps whose entries exist only while something is counted.

use std::{net::IpAddr, sync::Arc};

use dashmap::DashMap;

use crate::http::limits::{client_key, give_back, take};

/// Which cap refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The client holds its most open connections.
    Connections,
    /// The client has its most TLS handshakes in progress.
    Handshakes,
}

impl Refused {
    /// The `hopgate_rejected_total{reason}` label.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::Connections => "connections_per_ip",
            Self::Handshakes => "handshakes_per_ip",
        }
    }
}

/// The counters of open connections and handshakes per client, one per pod (shared by the
/// visitors' listeners).
pub(crate) struct ConnectionCaps {
    per_ip_connections: u32,
    per_ip_handshakes: u32,
    connections: DashMap<IpAddr, u32>,
    handshakes: DashMap<IpAddr, u32>,
}

impl ConnectionCaps {
    /// Caps of `connections` open and `handshakes` in progress per client (each at least 1).
    pub(crate) fn new(connections: u32, handshakes: u32) -> Arc<Self> {
        Arc::new(Self {
            per_ip_connections: connections.max(1),
            per_ip_handshakes: handshakes.max(1),
            connections: DashMap::new(),
            handshakes: DashMap::new(),
        })
    }

    /// Admits a connection from `peer`, or says it is over the client's cap.
    pub(crate) fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<ConnectionPermit, Refused> {
        let client = client_key(peer);
        if !take(&self.connections, client, self.per_ip_connections) {
            return Err(Refused::Connections);
        }
        Ok(ConnectionPermit {
            caps: self.clone(),
            client,
        })
    }

    /// Starts a TLS handshake on an admitted connection, or says the client has too many
    /// in progress.
    pub(crate) fn start_handshake(
        self: &Arc<Self>,
        connection: &ConnectionPermit,
    ) -> Result<HandshakePermit, Refused> {
        let client = connection.client;
        if !take(&self.handshakes, client, self.per_ip_handshakes) {
            return Err(Refused::Handshakes);
        }
        Ok(HandshakePermit {
            caps: self.clone(),
            client,
        })
    }

    /// Connections open for `ip`'s client (for tests and diagnostics).
    #[cfg(test)]
    fn connections_of(&self, ip: IpAddr) -> u32 {
        self.connections.get(&client_key(ip)).map_or(0, |n| *n)
    }
}

/// One open connection's place; given back when the connection ends (dropped).
pub(crate) struct ConnectionPermit {
    caps: Arc<ConnectionCaps>,
    client: IpAddr,
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        give_back(&self.caps.connections, self.client);
    }
}

/// One handshake in progress; given back when it ends, however it ends (dropped).
pub(crate) struct HandshakePermit {
    caps: Arc<ConnectionCaps>,
    client: IpAddr,
}

impl Drop for HandshakePermit {
    fn drop(&mut self) {
        give_back(&self.caps.handshakes, self.client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_client_over_its_connection_cap_is_refused_and_others_are_not() {
        let caps = ConnectionCaps::new(2, 10);
        let held: Vec<_> = (0..2)
            .map(|_| caps.admit(ip("192.0.2.1")).unwrap())
            .collect();
        assert_eq!(
            caps.admit(ip("192.0.2.1")).err(),
            Some(Refused::Connections)
        );
        assert!(caps.admit(ip("192.0.2.2")).is_ok());
        drop(held);
        assert_eq!(caps.connections_of(ip("192.0.2.1")), 0);
        assert!(caps.admit(ip("192.0.2.1")).is_ok());
    }

    #[test]
    fn handshakes_are_capped_apart_from_connections() {
        let caps = ConnectionCaps::new(10, 2);
        let connections: Vec<_> = (0..3)
            .map(|_| caps.admit(ip("192.0.2.1")).unwrap())
            .collect();
        let first = caps.start_handshake(&connections[0]).unwrap();
        let _second = caps.start_handshake(&connections[1]).unwrap();
        assert_eq!(
            caps.start_handshake(&connections[2]).err(),
            Some(Refused::Handshakes)
        );
        // A finished handshake gives its place back; the connection keeps its own.
        drop(first);
        assert!(caps.start_handshake(&connections[2]).is_ok());
        assert_eq!(caps.connections_of(ip("192.0.2.1")), 3);
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64_and_entries_go_at_zero() {
        let caps = ConnectionCaps::new(1, 1);
        let held = caps.admit(ip("2001:db8:1:2::1")).unwrap();
        assert_eq!(
            caps.admit(ip("2001:db8:1:2::ffff")).err(),
            Some(Refused::Connections)
        );
        assert!(caps.admit(ip("2001:db8:1:3::1")).is_ok());
        let handshake = caps.start_handshake(&held).unwrap();
        drop((held, handshake));
        assert!(caps.connections.is_empty() && caps.handshakes.is_empty());
    }
}
