//! A server table that hands its handshakes off: the reads that carry public-key work leave
//! the table as steps, the table keeps serving meanwhile, and a step's association is
//! whole again once it is taken back — or gone, if it expired while away.

use super::*;
use crate::dtls::step::StepDropped;

/// A server that hands its handshakes off.
fn handing_off() -> Net {
    let mut net = Net::new(8);
    net.server
        .hand_off_handshakes(Pacing::new(100, 100, Duration::from_millis(200)));
    net
}

/// Feeds `datagrams` from `from` without running the steps they produce.
fn feed_only(net: &mut Net, from: SocketAddr, datagrams: &Output) -> Output {
    let mut out = Output::default();
    for (_, datagram) in &datagrams.transmits {
        net.server
            .handle_datagram(net.now, from, datagram.clone(), &mut |_, _| {}, &mut out);
    }
    out
}

/// A client at `at` whose second ClientHello reached the server: what the server put out
/// for it, its first step among them, not run.
fn with_a_step_away(net: &mut Net, at: &str) -> (Client, Output) {
    let (mut client, hello) = net.client(at);
    let second = second_hello(net, &mut client, hello);
    let out = feed_only(net, client.addr, &second);
    (client, out)
}

#[test]
fn a_handshake_read_leaves_the_table_as_a_step_and_completes_once_taken_back() {
    let mut net = handing_off();
    let (mut client, mut out) = with_a_step_away(&mut net, "192.0.2.1:5000");
    assert!(out.transmits.is_empty(), "nothing answered inline");
    assert_eq!(out.steps.len(), 1);
    assert!(
        out.steps[0].is_first(),
        "the handshake's first step is paced"
    );
    assert_eq!((net.server.len(), net.server.handshaking()), (1, 1));

    let done = out.steps.remove(0).run(net.now);
    net.server
        .take_back(net.now, done, &mut |_, _| {}, &mut out);
    assert!(!out.transmits.is_empty(), "the server's flight goes out");
    let mut to_server = Output::default();
    for (_, datagram) in out.transmits {
        client
            .table
            .handle_datagram(net.now, SERVER, datagram, &mut |_, _| {}, &mut to_server);
    }
    let events = net.run(&mut client, to_server);
    let id = established(&events).expect("established after its steps came back");
    assert_eq!(net.server.peer_id(&client.addr), Some(id));
    assert_eq!(net.server.handshaking(), 0);
    assert_eq!(
        net.payload(&mut client, b"ping"),
        vec![BytesMut::from(&b"ping"[..])]
    );
}

#[test]
fn datagrams_for_an_away_step_wait_in_order_and_a_flood_of_them_is_dropped() {
    let mut net = handing_off();
    let (mut client, hello) = net.client("192.0.2.1:5000");
    let second = second_hello(&mut net, &mut client, hello);
    let mut out = feed_only(&mut net, client.addr, &second);
    assert_eq!(out.steps.len(), 1);

    // The client retransmits its hello while the step is away: the copies wait.
    for _ in 0..MAX_WAITING + 3 {
        let more = feed_only(&mut net, client.addr, &second);
        assert!(more.steps.is_empty() && more.transmits.is_empty());
    }
    assert_eq!(net.server.counters.handshake_datagrams_dropped, 3);

    // Back: the waiting copies are read next, together, as one step.
    let done = out.steps.remove(0).run(net.now);
    net.server
        .take_back(net.now, done, &mut |_, _| {}, &mut out);
    assert_eq!(
        out.steps.len(),
        1,
        "the waiting copies went out as one step"
    );
    assert!(
        !out.steps[0].is_first(),
        "a handshake under way is not paced"
    );
    let done = out.steps.remove(0).run(net.now);
    net.server
        .take_back(net.now, done, &mut |_, _| {}, &mut out);
    assert!(out.steps.is_empty(), "nothing waited for that one");
    assert_eq!(net.server.handshaking(), 1);
}

#[test]
fn a_step_whose_handshake_expired_while_away_is_dropped_on_return() {
    let mut net = handing_off();
    let (_client, mut out) = with_a_step_away(&mut net, "192.0.2.1:5000");
    let step = out.steps.remove(0);

    net.now += Duration::from_secs(6);
    assert!(step.expired(net.now), "the handshake thread drops it unrun");
    let mut expired = Output::default();
    net.server.handle_timeouts(net.now, &mut expired);
    assert_eq!(closed(&expired.events).len(), 1);
    assert_eq!((net.server.len(), net.server.handshaking()), (0, 0));
    assert_eq!(net.server.counters.handshakes_expired, 1);

    let mut back = Output::default();
    net.server
        .take_back(net.now, step.run(net.now), &mut |_, _| {}, &mut back);
    assert!(back.transmits.is_empty() && back.events.is_empty() && back.steps.is_empty());
    assert_eq!((net.server.len(), net.server.handshaking()), (0, 0));
}

#[test]
fn a_step_dropped_unrun_frees_its_place_at_once_and_a_stale_drop_changes_nothing() {
    let mut net = handing_off();
    let (_client, mut out) = with_a_step_away(&mut net, "192.0.2.1:5000");
    let step = out.steps.remove(0);
    let dropped_twice = step.drop_unrun();
    let (addr, slot, id) = (dropped_twice.addr, dropped_twice.slot, dropped_twice.id);

    let mut forgotten = Output::default();
    net.server.forget_dropped(dropped_twice, &mut forgotten);
    assert_eq!(closed(&forgotten.events).len(), 1);
    assert_eq!((net.server.len(), net.server.handshaking()), (0, 0));
    assert_eq!(net.server.counters.handshakes_paced_out, 1);
    assert_eq!(net.server.counters.handshakes_expired, 0);

    // The client starts over from the same port: a new association, which a late copy
    // of the old drop must leave alone.
    let (_again, out) = with_a_step_away(&mut net, "192.0.2.1:5000");
    assert_eq!(out.steps.len(), 1);
    let mut nothing = Output::default();
    net.server
        .forget_dropped(StepDropped { addr, slot, id }, &mut nothing);
    assert!(nothing.events.is_empty());
    assert_eq!((net.server.len(), net.server.handshaking()), (1, 1));
}

#[test]
fn a_client_table_never_hands_off() {
    let net = Net::new(8);
    let (mut client, _) = net.client("192.0.2.1:5000");
    client
        .table
        .hand_off_handshakes(Pacing::new(100, 100, Duration::from_millis(200)));
    assert_eq!(client.table.hands_off(), None);
}
