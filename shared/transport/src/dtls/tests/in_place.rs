//! Application data sealed into a send buffer and opened where it was received: the same
//! records as rtc-dtls's general path (either side may use either), one sequence and one
//! replay window shared by both, and what does not authenticate dropped.

use super::*;

/// A client established with the server.
fn established_client(net: &mut Net) -> Client {
    let (mut client, hello) = net.client("192.0.2.1:5000");
    established(&net.run(&mut client, hello)).expect("established");
    client
}

/// One record the client sealed in place.
fn sealed(client: &mut Client, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    assert_eq!(
        client.table.seal(SERVER, payload, &mut out),
        Ok(Sealed::Appended)
    );
    out
}

/// The server's in-place path on `datagram` from `client`; the payload if it opened.
fn open(net: &mut Net, client: &Client, datagram: &mut [u8]) -> InPlace {
    net.server.open_in_place(net.now, client.addr, datagram)
}

fn opened(net: &mut Net, client: &Client, mut datagram: Vec<u8>) -> Vec<u8> {
    match open(net, client, &mut datagram) {
        InPlace::Payload(range) => datagram[range].to_vec(),
        other => panic!("not opened: {other:?}"),
    }
}

/// The server's general path on `datagram` from `client`; what it delivered.
fn read(net: &mut Net, client: &Client, datagram: &[u8]) -> Vec<BytesMut> {
    let out = Output {
        transmits: vec![(SERVER, BytesMut::from(datagram))],
        ..Output::default()
    };
    net.send_to_server(client.addr, out).1
}

#[test]
fn records_sealed_in_place_and_written_by_the_general_path_read_either_way() {
    let mut net = Net::new(8);
    let mut client = established_client(&mut net);

    let fast = sealed(&mut client, b"sealed in place");
    assert_eq!(read(&mut net, &client, &fast), [&b"sealed in place"[..]]);
    let general = net.written(&mut client, b"written").to_vec();
    assert_eq!(opened(&mut net, &client, general), b"written");

    // The other way: the server's general path, opened in place by the client.
    let mut out = Output::default();
    net.server
        .encrypt(net.now, client.addr, b"to the agent", &mut out)
        .unwrap();
    let mut datagram = out.transmits.remove(0).1.to_vec();
    let InPlace::Payload(range) = client.table.open_in_place(net.now, SERVER, &mut datagram) else {
        panic!("the client did not open the server's record");
    };
    assert_eq!(&datagram[range], b"to the agent");
}

#[test]
fn both_paths_draw_on_one_sequence_so_none_is_taken_for_a_replay() {
    let mut net = Net::new(8);
    let mut client = established_client(&mut net);
    let mut datagrams = Vec::new();
    for i in 0..20u8 {
        datagrams.push(if i % 2 == 0 {
            sealed(&mut client, &[i; 100])
        } else {
            net.written(&mut client, &[i; 100]).to_vec()
        });
    }
    let sequences: Vec<u64> = datagrams
        .iter()
        .map(|d| wire::sole_application_record(d).unwrap().sequence)
        .collect();
    assert!(
        sequences.windows(2).all(|w| w[1] == w[0] + 1),
        "{sequences:?}"
    );
    // Opened out of order, every one arrives.
    datagrams.reverse();
    for (i, datagram) in datagrams.into_iter().enumerate() {
        let expected = vec![19 - i as u8; 100];
        assert_eq!(opened(&mut net, &client, datagram), expected);
    }
}

#[test]
fn a_replayed_record_is_dropped_by_both_paths() {
    let mut net = Net::new(8);
    let mut client = established_client(&mut net);
    let datagram = sealed(&mut client, b"once");
    let copy = datagram.clone();
    assert_eq!(opened(&mut net, &client, datagram), b"once");
    let mut replay = copy.clone();
    assert_eq!(open(&mut net, &client, &mut replay), InPlace::Dropped);
    assert!(read(&mut net, &client, &copy).is_empty());

    // And a record first read by the general path is a replay to the in-place one.
    let datagram = net.written(&mut client, b"twice?").to_vec();
    assert_eq!(read(&mut net, &client, &datagram).len(), 1);
    let mut replay = datagram;
    assert_eq!(open(&mut net, &client, &mut replay), InPlace::Dropped);
}

#[test]
fn a_record_that_does_not_authenticate_is_dropped_and_the_session_goes_on() {
    let mut net = Net::new(8);
    let mut client = established_client(&mut net);
    let before = net.server.counters.undecryptable_dropped;

    let mut flipped = sealed(&mut client, b"tampered");
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert_eq!(open(&mut net, &client, &mut flipped), InPlace::Dropped);

    // A forged sequence number far ahead fails authentication and moves no window.
    let mut ahead = sealed(&mut client, b"moved ahead");
    ahead[10] ^= 0x40;
    assert_eq!(open(&mut net, &client, &mut ahead), InPlace::Dropped);
    assert_eq!(net.server.counters.undecryptable_dropped, before + 2);

    let next = sealed(&mut client, b"still here");
    assert_eq!(opened(&mut net, &client, next), b"still here");
}

#[test]
fn anything_but_one_application_record_is_left_untouched_for_the_general_path() {
    let mut net = Net::new(8);
    let mut client = established_client(&mut net);
    let (mut starting, hello) = net.client("192.0.2.9:5000");
    let mut nothing = Vec::new();
    assert_eq!(starting.table.seal(SERVER, b"early", &mut nothing), Err(()));
    assert!(nothing.is_empty());
    let second = second_hello(&mut net, &mut starting, hello);
    net.send_to_server(starting.addr, second);
    assert_eq!(net.server.handshaking(), 1);
    // While an association's handshake runs, nothing from its address is opened here.
    let mut early = sealed(&mut client, b"not yet");
    let untouched = early.clone();
    assert_eq!(open(&mut net, &starting, &mut early), InPlace::Elsewhere);
    assert_eq!(early, untouched);

    // Two records in one datagram.
    let mut two = sealed(&mut client, b"one");
    two.extend_from_slice(&sealed(&mut client, b"two"));
    let untouched = two.clone();
    assert_eq!(open(&mut net, &client, &mut two), InPlace::Elsewhere);
    assert_eq!(two, untouched);
    assert_eq!(read(&mut net, &client, &two), [&b"one"[..], &b"two"[..]]);
    // A truncated record.
    let mut short = sealed(&mut client, b"cut short");
    short.pop();
    let untouched = short.clone();
    assert_eq!(open(&mut net, &client, &mut short), InPlace::Elsewhere);
    assert_eq!(short, untouched);
    // A record from an address with no association.
    let mut stranger = sealed(&mut client, b"from elsewhere");
    let at = addr("192.0.2.77:5000");
    assert_eq!(
        net.server.open_in_place(net.now, at, &mut stranger),
        InPlace::Elsewhere
    );
}
