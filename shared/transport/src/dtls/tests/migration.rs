//! An established peer whose packets start coming from a new port (a NAT rebinding) keeps
//! its association; records an attacker can make from another port of its IP — forged,
//! replayed, late, flooded — move nothing and cost a bounded number of trials.

use super::*;

const OLD: &str = "192.0.2.1:5000";
const NEW: &str = "192.0.2.1:6000";

/// A client established at [`OLD`], with the id the server gave it.
fn established_client(net: &mut Net) -> (Client, u64) {
    let (mut client, hello) = net.client(OLD);
    let id = established(&net.run(&mut client, hello)).expect("established");
    assert_eq!(net.payload(&mut client, b"first").len(), 1);
    (client, id)
}

/// Feeds one datagram from `from`; returns what the server delivered, with the address it
/// delivered it from.
fn deliver_from(net: &mut Net, from: &str, datagram: BytesMut) -> Vec<(SocketAddr, BytesMut)> {
    let mut delivered = Vec::new();
    net.server.handle_datagram(
        net.now,
        addr(from),
        datagram,
        &mut |at, data| delivered.push((at, data)),
        &mut Output::default(),
    );
    delivered
}

/// An application-data record of epoch 1 with sequence `seq` and a body that authenticates
/// under no key.
fn forged(seq: u64, body_len: usize) -> BytesMut {
    let mut record = vec![23, 0xfe, 0xfd, 0, 1];
    record.extend_from_slice(&seq.to_be_bytes()[2..]);
    record.extend_from_slice(&(body_len as u16).to_be_bytes());
    record.extend((0..body_len).map(|i| (i * 7 + 3) as u8));
    BytesMut::from(&record[..])
}

#[test]
fn a_rebound_peer_keeps_its_association_at_its_new_port() {
    let mut net = Net::new(8);
    let (mut client, id) = established_client(&mut net);

    let record = net.written(&mut client, b"after the rebinding");
    let delivered = deliver_from(&mut net, NEW, record.clone());
    assert_eq!(
        delivered,
        vec![(addr(NEW), BytesMut::from(&b"after the rebinding"[..]))]
    );
    assert_eq!(net.server.peer_addr(id), Some(addr(NEW)));
    assert_eq!(net.server.peer_id(&addr(OLD)), None);
    assert_eq!(net.server.counters.migration.moved, 1);

    // Processed once: the same record again, from either address, is a replay.
    assert!(deliver_from(&mut net, NEW, record.clone()).is_empty());
    assert!(deliver_from(&mut net, OLD, record).is_empty());
    // The gateway now answers at the new port, and the client takes it as before.
    let mut out = Output::default();
    net.server
        .encrypt(net.now, addr(NEW), b"answer", &mut out)
        .unwrap();
    assert!(out.transmits.iter().all(|(to, _)| *to == addr(NEW)));
    let mut got = Vec::new();
    for (_, datagram) in out.transmits {
        client.table.handle_datagram(
            net.now,
            SERVER,
            datagram,
            &mut |_, data| got.push(data),
            &mut Output::default(),
        );
    }
    assert_eq!(got, vec![BytesMut::from(&b"answer"[..])]);
    assert_eq!(
        net.server
            .encrypt(net.now, addr(OLD), b"x", &mut Output::default()),
        Err(())
    );
    // And it can be closed by id where it is now.
    let mut out = Output::default();
    net.server.remove_if(net.now, id, "done", &mut out);
    assert_eq!(closed(&out.events), vec![id]);
    assert_eq!(net.server.len(), 0);
}

#[test]
fn a_forged_record_from_a_new_port_moves_nothing_and_changes_nothing() {
    let mut net = Net::new(8);
    let (mut client, id) = established_client(&mut net);
    for len in [0, 8, 24, 40, 1200] {
        assert!(deliver_from(&mut net, NEW, forged(1 << 40, len)).is_empty());
    }
    assert_eq!(net.server.counters.migration.unauthenticated, 5);
    assert_eq!(net.server.counters.migration.moved, 0);
    assert_eq!(net.server.peer_addr(id), Some(addr(OLD)));
    // The failed trials left the association's replay window where it was: the peer's next
    // records (far below the forged sequence) still go through, and can still move it.
    assert_eq!(net.payload(&mut client, b"still here").len(), 1);
    let record = net.written(&mut client, b"moved");
    assert_eq!(deliver_from(&mut net, NEW, record).len(), 1);
    assert_eq!(net.server.peer_addr(id), Some(addr(NEW)));
}

#[test]
fn a_replayed_or_late_record_from_another_port_moves_nothing() {
    let mut net = Net::new(8);
    let (mut client, id) = established_client(&mut net);
    // Captured on the way and replayed from another port: older than what was accepted.
    let seen = net.written(&mut client, b"seen");
    assert_eq!(deliver_from(&mut net, OLD, seen.clone()).len(), 1);
    assert!(deliver_from(&mut net, NEW, seen).is_empty());
    assert_eq!(net.server.counters.migration.stale, 1);
    assert_eq!(net.server.peer_addr(id), Some(addr(OLD)));

    // A record still on the old path when the NAT rebinds arrives after the move: it does
    // not move the association back.
    let late = net.written(&mut client, b"late");
    let newer = net.written(&mut client, b"newer");
    assert_eq!(deliver_from(&mut net, NEW, newer).len(), 1);
    assert!(deliver_from(&mut net, OLD, late).is_empty());
    assert_eq!(net.server.peer_addr(id), Some(addr(NEW)));
    assert_eq!(net.server.counters.migration.stale, 2);
    assert_eq!(net.server.counters.migration.moved, 1);
}

#[test]
fn a_flood_from_other_ports_costs_at_most_the_ips_trials() {
    let mut net = Net::new(8);
    let (mut client, id) = established_client(&mut net);
    for i in 0..1_000u16 {
        let from = format!("192.0.2.1:{}", 10_000 + i);
        deliver_from(&mut net, &from, forged(1 << 40, 64));
    }
    let counters = net.server.counters.migration;
    // The test table allows 16 trials per IP per second, with one candidate each.
    assert_eq!(counters.unauthenticated, 16);
    assert_eq!(counters.rate_limited, 984);
    // Another IP has no association: its records are never tried.
    deliver_from(&mut net, "192.0.2.9:6000", forged(1 << 40, 64));
    assert_eq!(net.server.counters.unsolicited_dropped, 1);
    // The peer is unaffected, and once the bucket refills it can move again.
    assert_eq!(net.payload(&mut client, b"unaffected").len(), 1);
    net.now += Duration::from_secs(1);
    let record = net.written(&mut client, b"moved");
    assert_eq!(deliver_from(&mut net, NEW, record).len(), 1);
    assert_eq!(net.server.peer_addr(id), Some(addr(NEW)));
}

#[test]
fn the_right_association_of_a_shared_ip_moves() {
    let mut net = Net::new(8);
    let (mut first, first_id) = established_client(&mut net);
    let (mut second, hello) = net.client("192.0.2.1:5001");
    let second_id = established(&net.run(&mut second, hello)).unwrap();
    assert_eq!(net.payload(&mut second, b"second").len(), 1);
    // Both are candidates (the record is newer than either has seen); only one's keys open it.

    let record = net.written(&mut second, b"second moved");
    assert_eq!(deliver_from(&mut net, NEW, record).len(), 1);
    assert_eq!(net.server.peer_addr(second_id), Some(addr(NEW)));
    assert_eq!(net.server.peer_addr(first_id), Some(addr(OLD)));
    assert_eq!(net.payload(&mut first, b"first unaffected").len(), 1);
}

#[test]
fn a_hello_from_the_old_port_after_a_move_is_a_new_peer() {
    let mut net = Net::new(8);
    let (mut moved, id) = established_client(&mut net);
    let record = net.written(&mut moved, b"moved");
    assert_eq!(deliver_from(&mut net, NEW, record).len(), 1);

    // The NAT gives the old port to another agent: its handshake neither touches nor is
    // touched by the moved association.
    let (mut newcomer, hello) = net.client(OLD);
    let events = net.run(&mut newcomer, hello);
    let new_id = established(&events).expect("the newcomer completed");
    assert!(closed(&events).is_empty(), "{events:?}");
    assert_eq!(net.server.peer_addr(id), Some(addr(NEW)));
    assert_eq!(net.server.peer_id(&addr(OLD)), Some(new_id));
    assert_eq!(net.payload(&mut newcomer, b"newcomer").len(), 1);

    // A spoofed hello at the moved peer's new address follows the usual rules: the
    // association stays until a handshake from there completes.
    let (out, _) = net.send_to_server(addr(NEW), fake_hello(9, &[], 0));
    assert!(out.events.is_empty());
    assert_eq!(net.server.peer_addr(id), Some(addr(NEW)));
}

#[test]
fn the_agent_side_never_moves_its_gateway() {
    let mut net = Net::new(8);
    let (mut client, _) = established_client(&mut net);
    let mut out = Output::default();
    net.server
        .encrypt(net.now, client.addr, b"from the gateway", &mut out)
        .unwrap();
    let (_, datagram) = out.transmits.remove(0);
    let mut got = Vec::new();
    let elsewhere = addr("127.0.0.1:444");
    client.table.handle_datagram(
        net.now,
        elsewhere,
        datagram,
        &mut |_, data| got.push(data),
        &mut Output::default(),
    );
    assert!(got.is_empty());
    assert_eq!(client.table.counters.unsolicited_dropped, 1);
    assert_eq!(client.table.counters.migration.moved, 0);
    assert_eq!(client.table.peer_id(&elsewhere), None);
}
