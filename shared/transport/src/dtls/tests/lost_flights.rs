//! A lost flight is resent after the other side repeats its own: receiving a repeat of the
//! peer's previous flight (or part of its next one) must not cancel the retransmission of
//! ours, or both sides wait for each other until the set-up times out. Nor may a forged
//! plaintext handshake record.

use super::*;

/// Hands every datagram in `datagrams` to `client`; returns what it sent back.
fn to_client(net: &Net, client: &mut Client, datagrams: Output) -> Output {
    let mut out = Output::default();
    for (dest, datagram) in datagrams.transmits {
        assert_eq!(dest, client.addr);
        client
            .table
            .handle_datagram(net.now, SERVER, datagram, &mut |_, _| {}, &mut out);
    }
    out
}

/// The client's timers, run one flight interval later.
fn client_timers_later(net: &mut Net, client: &mut Client) -> Output {
    net.now += flight_interval();
    let mut out = Output::default();
    client.table.handle_timeouts(net.now, &mut out);
    out
}

/// The server's timers, run one flight interval later.
fn server_timers_later(net: &mut Net) -> Output {
    net.now += flight_interval();
    let mut out = Output::default();
    net.server.handle_timeouts(net.now, &mut out);
    out
}

/// `answer` if it holds a flight, else what `later` sends.
fn or_later(answer: Output, later: impl FnOnce() -> Output) -> Output {
    if answer.transmits.is_empty() {
        later()
    } else {
        answer
    }
}

fn flight_interval() -> Duration {
    TransportConfig::default().dtls_flight_interval
}

/// Runs the handshake up to the client's key exchange (flight 5), which it returns unsent.
fn up_to_the_clients_key_exchange(net: &mut Net, client: &mut Client, hello: Output) -> Output {
    let server_hello = up_to_the_servers_hello(net, client, hello);
    let key_exchange = to_client(net, client, server_hello);
    assert!(!key_exchange.transmits.is_empty(), "the client answered");
    key_exchange
}

/// Runs the handshake up to the server's hello (flight 4), which it returns unsent.
fn up_to_the_servers_hello(net: &mut Net, client: &mut Client, hello: Output) -> Output {
    let second = second_hello(net, client, hello);
    let (server_hello, _) = net.send_to_server(client.addr, second);
    assert!(!server_hello.transmits.is_empty(), "the server answered");
    server_hello
}

/// Finishes the handshake from what the client sends next, and sends a payload over it.
fn completes_from(net: &mut Net, client: &mut Client, to_server: Output) {
    let events = net.run(client, to_server);
    assert!(established(&events).is_some(), "the handshake completed");
    assert_eq!(net.payload(client, b"ping").len(), 1);
}

#[test]
fn a_client_whose_key_exchange_is_lost_resends_it_after_the_server_repeats_its_hello() {
    let mut net = Net::new(8);
    let (mut client, hello) = net.client("192.0.2.1:5000");
    let _lost = up_to_the_clients_key_exchange(&mut net, &mut client, hello);

    // The server hears nothing, so it repeats its flight; the repeat reaches the client.
    let repeat = server_timers_later(&mut net);
    assert!(
        !repeat.transmits.is_empty(),
        "the server repeated its flight"
    );
    let answer = to_client(&net, &mut client, repeat);

    // The client resends its key exchange, at once or when its own timer fires.
    let resent = or_later(answer, || client_timers_later(&mut net, &mut client));
    assert!(
        !resent.transmits.is_empty(),
        "the client never resent the key exchange the server did not get"
    );
    completes_from(&mut net, &mut client, resent);
}

#[test]
fn a_server_whose_hello_is_lost_resends_it_after_the_client_repeats_its_own() {
    let mut net = Net::new(8);
    let (mut client, hello) = net.client("192.0.2.1:5000");
    let _lost = up_to_the_servers_hello(&mut net, &mut client, hello);

    // The client hears nothing, so it repeats its hello; the repeat reaches the server.
    let repeat = client_timers_later(&mut net, &mut client);
    assert!(
        !repeat.transmits.is_empty(),
        "the client repeated its hello"
    );
    let (answer, _) = net.send_to_server(client.addr, repeat);

    // The server resends its flight, at once or when its own timer fires.
    let resent = or_later(answer, || server_timers_later(&mut net));
    assert!(
        !resent.transmits.is_empty(),
        "the server never resent the flight the client did not get"
    );
    let key_exchange = to_client(&net, &mut client, resent);
    completes_from(&mut net, &mut client, key_exchange);
}

/// A plaintext (epoch 0) handshake record with sequence `seq`: a well-formed fragment of a
/// Finished message over junk. It needs no keys, so anyone who can send from the agent's
/// address can make one.
fn forged_handshake_record(seq: u64) -> BytesMut {
    const FINISHED: u8 = 20;
    let body = [0x5a; 12];
    let len = (body.len() as u32).to_be_bytes();
    let mut handshake = vec![FINISHED];
    handshake.extend_from_slice(&len[1..]);
    handshake.extend_from_slice(&5u16.to_be_bytes());
    handshake.extend_from_slice(&[0, 0, 0]);
    handshake.extend_from_slice(&len[1..]);
    handshake.extend_from_slice(&body);
    let mut record = vec![22, 0xfe, 0xfd, 0, 0];
    record.extend_from_slice(&seq.to_be_bytes()[2..]);
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    BytesMut::from(&record[..])
}

#[test]
fn a_forged_handshake_record_does_not_silence_the_gateways_retransmissions() {
    let mut net = Net::new(8);
    let (mut client, hello) = net.client("192.0.2.1:5000");
    let _lost = up_to_the_servers_hello(&mut net, &mut client, hello);

    let forged = Output {
        transmits: vec![(SERVER, forged_handshake_record(1_000))],
        ..Output::default()
    };
    net.send_to_server(client.addr, forged);

    let resent = server_timers_later(&mut net);
    assert!(
        !resent.transmits.is_empty(),
        "a forged record stopped the server resending the flight the client did not get"
    );
    let key_exchange = to_client(&net, &mut client, resent);
    completes_from(&mut net, &mut client, key_exchange);
}
