//! The stream layer's TLS 1.3 handshake, run in memory between the agent's and the
//! gateway's configurations: which suite they agree on, and that an agent preferring
//! another suite still connects.

use rustls::{
    CipherSuite,
    quic::{ClientConnection, Connection, ServerConnection, Version},
};

use super::*;

/// QUIC transport parameters are opaque to rustls; any bytes do for a handshake.
const PARAMS: &[u8] = &[0];

/// Runs the handshake between `client` and the gateway's configuration; the suite agreed.
fn negotiate(client: rustls::ClientConfig, identity: &Identity) -> CipherSuite {
    let name = ServerName::try_from("gw.hopgate.test").unwrap();
    let client = ClientConnection::new(Arc::new(client), Version::V1, name, PARAMS.to_vec());
    let mut client = Connection::Client(client.unwrap());
    let server = ServerConnection::new(
        Arc::new(server_tls(identity).unwrap()),
        Version::V1,
        PARAMS.to_vec(),
    );
    let mut server = Connection::Server(server.unwrap());
    for _ in 0..8 {
        if !client.is_handshaking() && !server.is_handshaking() {
            break;
        }
        pass(&mut client, &mut server);
        pass(&mut server, &mut client);
    }
    assert!(!client.is_handshaking() && !server.is_handshaking());
    let agreed = server.negotiated_cipher_suite().unwrap().suite();
    assert_eq!(client.negotiated_cipher_suite().unwrap().suite(), agreed);
    agreed
}

/// Hands everything `from` has to send to `to`, one encryption level at a time.
fn pass(from: &mut Connection, to: &mut Connection) {
    loop {
        let mut buf = Vec::new();
        let key_change = from.write_hs(&mut buf);
        if !buf.is_empty() {
            to.read_hs(&buf).unwrap();
        }
        if key_change.is_none() && buf.is_empty() {
            break;
        }
    }
}

fn identity() -> Identity {
    Identity::self_signed(&["gw.hopgate.test".into()]).unwrap()
}

#[test]
fn agent_and_gateway_agree_on_aes_128_gcm() {
    let identity = identity();
    let leaf = identity.chain().remove(0);
    let client = client_tls(leaf, provider()).unwrap();
    assert_eq!(
        negotiate(client, &identity),
        CipherSuite::TLS13_AES_128_GCM_SHA256
    );
}

#[test]
fn an_agent_that_prefers_aes_256_still_connects() {
    let identity = identity();
    let leaf = identity.chain().remove(0);
    let client = client_tls(leaf, Arc::new(rustls::crypto::ring::default_provider())).unwrap();
    assert_eq!(
        negotiate(client, &identity),
        CipherSuite::TLS13_AES_256_GCM_SHA384
    );
}
