//! The few DTLS 1.2 records the listener reads or writes itself, before any association
//! exists: the client's ClientHello (its random and cookie) and the stateless
//! HelloVerifyRequest that answers it (RFC 6347 §4.2.1). Pure functions on bytes.

use bytes::BytesMut;

const CONTENT_HANDSHAKE: u8 = 22;
const CONTENT_APPLICATION_DATA: u8 = 23;
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
const HANDSHAKE_HELLO_VERIFY_REQUEST: u8 = 3;
/// DTLS 1.2 on the wire.
const DTLS_1_2: [u8; 2] = [0xfe, 0xfd];
/// type(1) version(2) epoch(2) sequence(6) length(2).
const RECORD_HEADER: usize = 13;
/// type(1) length(3) message_seq(2) fragment_offset(3) fragment_length(3).
const HANDSHAKE_HEADER: usize = 12;
/// Where a ClientHello's body starts in its datagram.
const BODY: usize = RECORD_HEADER + HANDSHAKE_HEADER;
/// Record sequence numbers are 48 bits.
const MAX_RECORD_SEQUENCE: u64 = (1 << 48) - 1;

/// An epoch-0 ClientHello at the start of a datagram, unfragmented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientHello {
    pub(crate) random: [u8; 32],
    /// Empty on a client's first hello.
    pub(crate) cookie: Vec<u8>,
    pub(crate) message_seq: u16,
    pub(crate) record_seq: u64,
    /// Where the hello's record ends in the datagram.
    record_end: usize,
}

fn be(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |acc, b| (acc << 8) | u64::from(*b))
}

/// The content type and epoch of the datagram's first record, if it has a header.
pub(crate) fn first_record(datagram: &[u8]) -> Option<(u8, u16)> {
    (datagram.len() >= RECORD_HEADER).then(|| (datagram[0], be(&datagram[3..5]) as u16))
}

/// Where an application-data record sits in its association's record stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordPosition {
    pub(crate) epoch: u16,
    pub(crate) sequence: u64,
}

/// The epoch and sequence number of a datagram that is exactly one application-data record
/// of an established epoch (1 or later), as every packet of the stream layer is; `None` for
/// anything else (handshake or alert records, several records, a length that doesn't match).
pub(crate) fn sole_application_record(datagram: &[u8]) -> Option<RecordPosition> {
    if datagram.len() < RECORD_HEADER
        || datagram[0] != CONTENT_APPLICATION_DATA
        || RECORD_HEADER + be(&datagram[11..13]) as usize != datagram.len()
    {
        return None;
    }
    let epoch = be(&datagram[3..5]) as u16;
    (epoch >= 1).then(|| RecordPosition {
        epoch,
        sequence: be(&datagram[5..11]),
    })
}

/// Reads the ClientHello that starts `datagram`; `None` for anything else, including a
/// fragmented hello (a DTLS 1.2 client's hello fits one datagram).
pub(crate) fn client_hello(datagram: &[u8]) -> Option<ClientHello> {
    if datagram.len() < BODY + 2 + 32 + 2
        || datagram[0] != CONTENT_HANDSHAKE
        || datagram[3..5] != [0, 0]
        || datagram[RECORD_HEADER] != HANDSHAKE_CLIENT_HELLO
    {
        return None;
    }
    let record_end = RECORD_HEADER + be(&datagram[11..13]) as usize;
    let length = be(&datagram[14..17]) as usize;
    let fragment_offset = be(&datagram[19..22]);
    let fragment_length = be(&datagram[22..25]) as usize;
    if record_end > datagram.len()
        || fragment_offset != 0
        || fragment_length != length
        || BODY + length > record_end
    {
        return None;
    }
    let body = &datagram[BODY..BODY + length];
    let session_id_len = usize::from(*body.get(34)?);
    let cookie_at = 35 + session_id_len;
    let cookie_len = usize::from(*body.get(cookie_at)?);
    let cookie = body
        .get(cookie_at + 1..cookie_at + 1 + cookie_len)?
        .to_vec();
    Some(ClientHello {
        random: body[2..34].try_into().ok()?,
        cookie,
        message_seq: be(&datagram[17..19]) as u16,
        record_seq: be(&datagram[5..11]),
        record_end,
    })
}

/// The stateless answer to a hello without a valid cookie: the server's message_seq is 0 and
/// the record sequence repeats the hello's, as RFC 6347 §4.2.1 asks.
pub(crate) fn hello_verify_request(hello: &ClientHello, cookie: &[u8]) -> BytesMut {
    let body_len = 2 + 1 + cookie.len();
    let mut out = BytesMut::with_capacity(RECORD_HEADER + HANDSHAKE_HEADER + body_len);
    out.extend_from_slice(&[CONTENT_HANDSHAKE]);
    out.extend_from_slice(&DTLS_1_2);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&hello.record_seq.min(MAX_RECORD_SEQUENCE).to_be_bytes()[2..]);
    out.extend_from_slice(&((HANDSHAKE_HEADER + body_len) as u16).to_be_bytes());
    let len24 = &(body_len as u32).to_be_bytes()[1..];
    out.extend_from_slice(&[HANDSHAKE_HELLO_VERIFY_REQUEST]);
    out.extend_from_slice(len24);
    out.extend_from_slice(&[0, 0, 0, 0, 0]);
    out.extend_from_slice(len24);
    out.extend_from_slice(&DTLS_1_2);
    out.extend_from_slice(&[cookie.len() as u8]);
    out.extend_from_slice(cookie);
    out
}

/// The cookie of a HelloVerifyRequest that starts `datagram`.
pub(crate) fn hello_verify_cookie(datagram: &[u8]) -> Option<&[u8]> {
    if datagram.len() < BODY + 3
        || datagram[0] != CONTENT_HANDSHAKE
        || datagram[RECORD_HEADER] != HANDSHAKE_HELLO_VERIFY_REQUEST
    {
        return None;
    }
    let cookie_len = usize::from(datagram[BODY + 2]);
    datagram.get(BODY + 3..BODY + 3 + cookie_len)
}

/// The client's first hello as the DTLS library would have seen it before the cookie round
/// trip: this hello's record alone, with message_seq 0 and the record sequence just before
/// this one (so the real hello that follows is not taken for a replay). `None` when the
/// hello is not a second hello (message_seq 1, record sequence above 0).
pub(crate) fn first_hello_before(datagram: &[u8], hello: &ClientHello) -> Option<BytesMut> {
    if hello.message_seq != 1 || hello.record_seq == 0 {
        return None;
    }
    let mut first = BytesMut::from(&datagram[..hello.record_end]);
    first[5..11].copy_from_slice(&(hello.record_seq - 1).to_be_bytes()[2..]);
    first[17..19].copy_from_slice(&[0, 0]);
    Some(first)
}

/// A minimal well-formed ClientHello record with `cookie` (record sequence 3).
#[cfg(test)]
pub(crate) fn hello_bytes(random: [u8; 32], cookie: &[u8], message_seq: u16) -> Vec<u8> {
    let mut body = vec![0xfe, 0xfd];
    body.extend_from_slice(&random);
    body.push(0); // session id
    body.push(cookie.len() as u8);
    body.extend_from_slice(cookie);
    body.extend_from_slice(&[0, 2, 0xc0, 0x2b, 1, 0]); // one suite, null compression
    let len = (body.len() as u32).to_be_bytes();
    let mut out = vec![CONTENT_HANDSHAKE, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 3];
    out.extend_from_slice(&((HANDSHAKE_HEADER + body.len()) as u16).to_be_bytes());
    out.push(HANDSHAKE_CLIENT_HELLO);
    out.extend_from_slice(&len[1..]);
    out.extend_from_slice(&message_seq.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&len[1..]);
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_random_cookie_and_sequences() {
        let bytes = hello_bytes([7; 32], b"cookie", 1);
        let hello = client_hello(&bytes).unwrap();
        assert_eq!(hello.random, [7; 32]);
        assert_eq!(hello.cookie, b"cookie");
        assert_eq!((hello.message_seq, hello.record_seq), (1, 3));
    }

    #[test]
    fn recognises_only_epoch_zero_unfragmented_client_hellos() {
        let hello = hello_bytes([7; 32], &[], 0);
        assert!(client_hello(&hello).is_some());
        let mut epoch1 = hello.clone();
        epoch1[4] = 1;
        assert_eq!(client_hello(&epoch1), None);
        let mut server_hello = hello.clone();
        server_hello[13] = 2;
        assert_eq!(client_hello(&server_hello), None);
        let mut fragment = hello.clone();
        fragment[21] = 1;
        assert_eq!(client_hello(&fragment), None);
        assert_eq!(client_hello(&hello[..40]), None);
        assert_eq!(client_hello(&hello[..hello.len() - 1]), None);
    }

    #[test]
    fn only_a_lone_application_record_of_an_established_epoch_has_a_position() {
        let mut record = vec![23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 1, 2, 0, 3, 9, 9, 9];
        assert_eq!(
            sole_application_record(&record),
            Some(RecordPosition {
                epoch: 1,
                sequence: 258
            })
        );
        record.push(0);
        assert_eq!(sole_application_record(&record), None, "trailing bytes");
        record.pop();
        let mut epoch0 = record.clone();
        epoch0[4] = 0;
        assert_eq!(sole_application_record(&epoch0), None);
        let mut alert = record.clone();
        alert[0] = 21;
        assert_eq!(sole_application_record(&alert), None);
        assert_eq!(sole_application_record(&record[..12]), None);
    }

    #[test]
    fn hello_verify_request_round_trips_its_cookie() {
        let hello = client_hello(&hello_bytes([1; 32], &[], 0)).unwrap();
        let hvr = hello_verify_request(&hello, &[9; 20]);
        assert_eq!(hello_verify_cookie(&hvr), Some(&[9u8; 20][..]));
        assert_eq!(&hvr[5..11], &[0, 0, 0, 0, 0, 3]);
    }

    #[test]
    fn first_hello_takes_sequence_zero_and_the_previous_record() {
        let bytes = hello_bytes([1; 32], b"c", 1);
        let hello = client_hello(&bytes).unwrap();
        let first = client_hello(&first_hello_before(&bytes, &hello).unwrap()).unwrap();
        assert_eq!((first.message_seq, first.record_seq), (0, 2));
        assert_eq!(
            (first.random, first.cookie),
            (hello.random, hello.cookie.clone())
        );
        let original = client_hello(&hello_bytes([1; 32], &[], 0)).unwrap();
        assert_eq!(first_hello_before(&bytes, &original), None);
    }
}
