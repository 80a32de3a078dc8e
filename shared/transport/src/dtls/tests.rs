//! Sans-IO tests of the association table: real rtc-dtls clients and a server table trade
//! datagrams in memory, so a spoofed source address is just a `SocketAddr` argument.

use super::*;
use crate::{
    config::TransportConfig,
    dtls_config::{self, ServerVerification},
    identity::Identity,
};

const SERVER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 443);

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn limits(per_ip: usize) -> TableLimits {
    TableLimits {
        handshake_timeout: Duration::from_secs(5),
        max_handshaking: 64,
        max_handshakes_per_ip: per_ip,
        max_peers: 1000,
        stale_after: Duration::from_secs(3600),
        shared: super::SharedCounts::default(),
        migration: MigrationLimits {
            candidates: 8,
            attempts_per_ip_per_s: 16,
        },
    }
}

struct Net {
    identity: Identity,
    server: DtlsTable,
    now: Instant,
}

struct Client {
    addr: SocketAddr,
    table: DtlsTable,
}

impl Net {
    fn new(per_ip: usize) -> Self {
        let identity = Identity::self_signed(&["gw.hopgate.test".into()]).unwrap();
        let seed = CookieSeed::default();
        let config = dtls_config::server(&identity, &TransportConfig::default(), &seed).unwrap();
        let now = Instant::now();
        let random = rtc_dtls::crypto_provider::default_provider().unwrap();
        let role = ServerRole::new(now, config, seed, random);
        Self {
            identity,
            server: DtlsTable::server(SERVER, role, limits(per_ip)),
            now,
        }
    }

    /// A client at `at` that has sent its first hello; returns it with what it sent.
    fn client(&self, at: &str) -> (Client, Output) {
        let addr = addr(at);
        let config = dtls_config::client(
            "gw.hopgate.test",
            &ServerVerification::Pinned(self.identity.fingerprint()),
            SERVER,
            &TransportConfig::default(),
        )
        .unwrap();
        let mut table = DtlsTable::client(addr, limits(1));
        let mut out = Output::default();
        table.connect(self.now, SERVER, config, &mut out).unwrap();
        (Client { addr, table }, out)
    }

    /// Feeds `datagrams` to the server as if from `from`; returns what it sent and delivered,
    /// with the handshake steps it handed off run and taken back.
    fn send_to_server(&mut self, from: SocketAddr, datagrams: Output) -> (Output, Vec<BytesMut>) {
        let mut out = Output::default();
        let mut delivered = Vec::new();
        for (_, datagram) in datagrams.transmits {
            self.server.handle_datagram(
                self.now,
                from,
                datagram,
                &mut |_, data| delivered.push(data),
                &mut out,
            );
        }
        while !out.steps.is_empty() {
            for step in std::mem::take(&mut out.steps) {
                let done = step.run(self.now);
                self.server.take_back(
                    self.now,
                    done,
                    &mut |_, data| delivered.push(data),
                    &mut out,
                );
            }
        }
        (out, delivered)
    }

    /// Trades datagrams between `client` and the server until both are quiet; returns the
    /// server's events.
    fn run(&mut self, client: &mut Client, first: Output) -> Vec<PeerEvent> {
        let mut events = Vec::new();
        let mut to_server = first;
        for _ in 0..20 {
            let (mut to_client, _) = self.send_to_server(client.addr, to_server);
            events.append(&mut to_client.events);
            to_server = Output::default();
            for (dest, datagram) in to_client.transmits {
                assert_eq!(dest, client.addr);
                client.table.handle_datagram(
                    self.now,
                    SERVER,
                    datagram,
                    &mut |_, _| {},
                    &mut to_server,
                );
            }
            if to_server.transmits.is_empty() {
                break;
            }
        }
        events
    }

    /// Sends one payload from `client` over its association; returns what the server got.
    fn payload(&mut self, client: &mut Client, payload: &[u8]) -> Vec<BytesMut> {
        let record = self.written(client, payload);
        let out = Output {
            transmits: vec![(SERVER, record)],
            ..Output::default()
        };
        self.send_to_server(client.addr, out).1
    }

    /// One record `client` wrote through rtc-dtls's general path, not yet sent.
    fn written(&self, client: &mut Client, payload: &[u8]) -> BytesMut {
        let mut out = Output::default();
        client
            .table
            .encrypt(self.now, SERVER, payload, &mut out)
            .unwrap();
        assert_eq!(out.transmits.len(), 1);
        out.transmits.remove(0).1
    }
}

fn established(events: &[PeerEvent]) -> Option<u64> {
    events.iter().find_map(|e| match e {
        PeerEvent::Established { id, .. } => Some(*id),
        PeerEvent::Closed { .. } => None,
    })
}

fn closed(events: &[PeerEvent]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e {
            PeerEvent::Closed { id, .. } => Some(*id),
            PeerEvent::Established { .. } => None,
        })
        .collect()
}

fn fake_hello(random: u8, cookie: &[u8], message_seq: u16) -> Output {
    let datagram = BytesMut::from(&wire::hello_bytes([random; 32], cookie, message_seq)[..]);
    Output {
        transmits: vec![(SERVER, datagram)],
        ..Output::default()
    }
}

#[test]
fn a_hello_without_a_cookie_gets_a_stateless_hello_verify_request() {
    let mut net = Net::new(8);
    let from = addr("192.0.2.1:5000");
    let (out, _) = net.send_to_server(from, fake_hello(1, &[], 0));
    assert_eq!(out.transmits.len(), 1);
    let (dest, hvr) = &out.transmits[0];
    assert_eq!(*dest, from);
    assert_eq!(
        wire::hello_verify_cookie(hvr).map(<[u8]>::len),
        Some(COOKIE_LEN)
    );
    assert_eq!((net.server.len(), net.server.handshaking()), (0, 0));
    assert_eq!(net.server.counters.cookies_sent, 1);
}

#[test]
fn a_flood_of_hellos_without_cookies_creates_no_state() {
    let mut net = Net::new(8);
    for i in 0..5_000u32 {
        let from = SocketAddr::from(([192, 0, 2, (i % 200) as u8], 1024 + (i % 60_000) as u16));
        net.send_to_server(from, fake_hello(i as u8, &[], 0));
    }
    assert_eq!((net.server.len(), net.server.handshaking()), (0, 0));
    assert_eq!(net.server.counters.cookies_sent, 5_000);
}

#[test]
fn forged_and_borrowed_cookies_create_no_state() {
    let mut net = Net::new(8);
    let owner = addr("192.0.2.1:5000");
    let (out, _) = net.send_to_server(owner, fake_hello(1, &[], 0));
    let cookie = wire::hello_verify_cookie(&out.transmits[0].1)
        .unwrap()
        .to_vec();
    let mut forged = cookie.clone();
    forged[3] ^= 0x40;
    net.send_to_server(owner, fake_hello(1, &forged, 1));
    net.send_to_server(addr("192.0.2.1:5001"), fake_hello(1, &cookie, 1));
    net.send_to_server(addr("192.0.2.2:5000"), fake_hello(1, &cookie, 1));
    assert_eq!(net.server.len(), 0);
    assert_eq!(net.server.counters.bad_cookies, 3);
}

#[test]
fn a_real_client_completes_through_the_cookie_exchange() {
    let mut net = Net::new(8);
    let (mut client, hello) = net.client("192.0.2.1:5000");
    let events = net.run(&mut client, hello);
    let id = established(&events).expect("the server side completed");
    assert_eq!(net.server.peer_id(&client.addr), Some(id));
    assert_eq!(net.server.counters.cookies_sent, 1);
    assert_eq!(net.server.handshaking(), 0);
    assert_eq!(
        net.payload(&mut client, b"ping"),
        vec![BytesMut::from(&b"ping"[..])]
    );
}

#[test]
fn a_spoofed_hello_from_an_established_address_ends_nothing() {
    let mut net = Net::new(8);
    let (mut client, hello) = net.client("192.0.2.1:5000");
    let id = established(&net.run(&mut client, hello)).unwrap();

    // Blind: the attacker never sees the HelloVerifyRequest, which goes to the agent.
    let (out, _) = net.send_to_server(client.addr, fake_hello(9, &[], 0));
    assert!(out.events.is_empty());
    // On the path: it read the cookie and answers it, but can't finish a handshake.
    let cookie = wire::hello_verify_cookie(&out.transmits[0].1)
        .unwrap()
        .to_vec();
    let (out, _) = net.send_to_server(client.addr, fake_hello(9, &cookie, 1));
    assert!(closed(&out.events).is_empty(), "{:?}", out.events);
    assert_eq!(net.server.peer_id(&client.addr), Some(id));
    assert_eq!(net.payload(&mut client, b"still here").len(), 1);

    // The unfinished successor expires; the session stays.
    net.now += Duration::from_secs(6);
    let mut out = Output::default();
    net.server.handle_timeouts(net.now, &mut out);
    assert!(!closed(&out.events).contains(&id));
    assert_eq!(net.server.peer_id(&client.addr), Some(id));
    assert_eq!(net.server.handshaking(), 0);
    assert_eq!(net.payload(&mut client, b"and here").len(), 1);
}

#[test]
fn a_restarted_peer_replaces_its_association_once_the_new_handshake_completes() {
    let mut net = Net::new(8);
    let (mut old, hello) = net.client("192.0.2.1:5000");
    let old_id = established(&net.run(&mut old, hello)).unwrap();

    let (mut restarted, hello) = net.client("192.0.2.1:5000");
    let events = net.run(&mut restarted, hello);
    let new_id = established(&events).expect("the new handshake completed");
    assert_eq!(closed(&events), vec![old_id]);
    assert_eq!(net.server.peer_id(&restarted.addr), Some(new_id));
    assert_eq!(net.payload(&mut restarted, b"new").len(), 1);
    assert_eq!(net.server.len(), 1);
}

#[test]
fn one_source_ip_gets_a_limited_number_of_handshakes() {
    let mut net = Net::new(2);
    for port in 5000..5003 {
        let (client, hello) = net.client(&format!("192.0.2.1:{port}"));
        let (hvr, _) = net.send_to_server(client.addr, hello);
        let mut second = Output::default();
        let mut table = client.table;
        for (_, datagram) in hvr.transmits {
            table.handle_datagram(net.now, SERVER, datagram, &mut |_, _| {}, &mut second);
        }
        net.send_to_server(client.addr, second);
    }
    assert_eq!(net.server.handshaking(), 2);
    assert_eq!(net.server.counters.handshakes_refused_per_ip, 1);

    // Another address is not affected, and the refused ones are let in once time frees them.
    let (mut other, hello) = net.client("192.0.2.2:5000");
    assert!(established(&net.run(&mut other, hello)).is_some());
    net.now += Duration::from_secs(6);
    net.server.handle_timeouts(net.now, &mut Output::default());
    assert_eq!(net.server.handshaking(), 0);
    assert_eq!(net.server.counters.handshakes_expired, 2);
}

/// `client`'s second hello, answering the server's cookie challenge.
fn second_hello(net: &mut Net, client: &mut Client, hello: Output) -> Output {
    let (verify, _) = net.send_to_server(client.addr, hello);
    let mut second = Output::default();
    for (_, datagram) in verify.transmits {
        client
            .table
            .handle_datagram(net.now, SERVER, datagram, &mut |_, _| {}, &mut second);
    }
    assert_eq!(second.transmits.len(), 1, "one second hello");
    second
}

#[test]
fn established_associations_are_looked_at_once_a_second_handshakes_at_every_tick() {
    let mut net = Net::new(8);
    net.server.limits.stale_after = Duration::from_millis(500);
    net.server.limits.handshake_timeout = Duration::from_millis(500);
    let (mut client, hello) = net.client("192.0.2.1:5000");
    let id = established(&net.run(&mut client, hello)).unwrap();
    let (mut starting, hello) = net.client("192.0.2.2:5000");
    let second = second_hello(&mut net, &mut starting, hello);
    net.send_to_server(starting.addr, second);
    assert_eq!(net.server.handshaking(), 1);
    let mut out = Output::default();
    net.server.handle_timeouts(net.now, &mut out);
    assert!(out.events.is_empty());

    // Between two looks at everything, handshakes are still looked at: the one that timed
    // out goes at once, while the stale session waits for the next look.
    net.now += Duration::from_millis(600);
    net.server.handle_timeouts(net.now, &mut out);
    assert_eq!(closed(&out.events).len(), 1);
    assert_eq!(net.server.handshaking(), 0);
    assert_eq!(net.server.peer_id(&client.addr), Some(id));
    net.now += Duration::from_millis(500);
    net.server.handle_timeouts(net.now, &mut out);
    assert_eq!(closed(&out.events).len(), 2);
    assert_eq!(closed(&out.events)[1], id, "stale at the next look");
    assert_eq!(net.server.len(), 0);
}

mod hand_off;
mod in_place;
mod lost_flights;
mod migration;
