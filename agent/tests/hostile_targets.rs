//! Request targets that name a host instead of a path (absolute-form, authority-form, an
//! HTTP/2 `:path` such as `@host:port/x`), arriving on a stream as a gateway could send
//! them: the real agent refuses each with a Reset that says why, and neither the local
//! service nor the host the target names sees a connection.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use hopgate_protocol::ResetCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_is_not_a_path_is_reset_and_reaches_nobody() {
    let gateway = Gateway::start();
    let local = LocalServer::start().await;
    let mut agent = Agent::serve(&gateway, &local.port().to_string(), &[]);
    let session = gateway.next_session().await;
    agent.connected().await;
    let elsewhere = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    elsewhere.set_nonblocking(true).unwrap();
    let port = elsewhere.local_addr().unwrap().port();

    for target in [
        format!("@127.0.0.1:{port}/steal"),
        format!("http://127.0.0.1:{port}/steal"),
        format!("127.0.0.1:{port}"),
    ] {
        let reply = get(&session.session, &target).await;
        let reset = reply
            .reset
            .unwrap_or_else(|| panic!("{target}: answered {:?}", reply.head));
        assert_eq!(reset.code, ResetCode::ProtocolError, "{target}");
        assert!(reset.message.contains("origin-form"), "{target}: {reset:?}");
    }

    // An ordinary request still works on the same session.
    assert_eq!(get(&session.session, "/echo").await.status(), 200);
    assert_eq!(local.seen().len(), 1, "{:?}", local.seen());
    assert!(
        elsewhere.accept().is_err(),
        "the host the target named got a connection"
    );
}
