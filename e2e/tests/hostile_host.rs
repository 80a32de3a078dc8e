//! A Host the connection's certificate does not cover, on a debug pod routing a tenant
//! outside the gateway's domain from the control-plane's table: answered 421 (misdirected) on HTTP/1.1 and
//! HTTP/2 alike, never served by the tenant the Host names. (The pod-only cases are in
//! `data-plane/tests/hostile_host.rs`.)

use std::{sync::Arc, time::Duration};

use hopgate_e2e::*;
use hopgate_protocol::Hello;

const NOBODY: &str = "nobody.gw.hopgate.test";

async fn metric(dp: &DataPlane, reason: &str) -> u64 {
    dp.metric(&format!("hopgate_rejected_total{{reason=\"{reason}\"}}"))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_the_connections_certificate_does_not_cover_is_misdirected() {
    // A debug pod routing from a control-plane: a tenant outside the gateway's domain
    // isn't named by the gateway's (default) certificate.
    let tenant = "a.example.test";
    let cp = ControlPlane::start();
    let key = cp.register(tenant).await;
    cp.register("shop.gw.hopgate.test").await;
    let dp = DataPlane::subscribed(&cp, "pod-a", Arc::new(TempDir::new("dp")));
    dp.wait_ready(Duration::from_secs(10)).await;
    let agent = fake_agent(&dp, Hello::new(tenant, key.as_str(), "test")).await;
    assert!(agent.ack.ok, "{:?}", agent.ack);
    serve(agent.session.clone(), |_, _| {
        (200, vec![], b"served by a".to_vec())
    });
    let https = dp.https;
    let other = "b.gw.hopgate.test";

    // Its own connection reaches the tenant, on both HTTP versions.
    let (status, body) = raw_visitor::h2(https, Some(tenant), tenant, "/", &[]).await;
    assert_eq!((status, body.as_str()), (200, "served by a"));
    let own = format!("GET / HTTP/1.1\r\nHost: {tenant}\r\nConnection: close\r\n\r\n");
    let (status, answer) = raw_visitor::h1(https, Some(tenant), &own).await;
    assert_eq!(status, 200, "{answer}");

    // A connection made for another name (whose certificate doesn't cover the tenant), or
    // for no name at all: 421, over HTTP/2 and HTTP/1.1.
    for sni in [Some(other), None] {
        let (status, body) = raw_visitor::h2(https, sni, tenant, "/", &[]).await;
        assert_eq!(status, 421, "SNI {sni:?}, HTTP/2: {body}");
        let (status, answer) = raw_visitor::h1(https, sni, &own).await;
        assert_eq!(status, 421, "SNI {sni:?}, HTTP/1.1: {answer}");
        assert!(!answer.contains("served by a"), "{answer}");
    }
    assert_eq!(metric(&dp, "misdirected").await, 4);

    // A name the same wildcard certificate covers may reuse the connection (a registered
    // domain without an agent: 502; nobody's: 404), with or without SNI.
    for sni in [Some(other), None] {
        let (status, body) = raw_visitor::h2(https, sni, "shop.gw.hopgate.test", "/", &[]).await;
        assert_eq!(status, 502, "SNI {sni:?}: {body}");
        let (status, body) = raw_visitor::h2(https, sni, NOBODY, "/", &[]).await;
        assert_eq!(status, 404, "SNI {sni:?}: {body}");
    }
    assert_eq!(metric(&dp, "misdirected").await, 4);
    // A malformed Host is a 400.
    let bad = "GET / HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n";
    assert_eq!(raw_visitor::h1(https, Some(other), bad).await.0, 400);
    assert_eq!(metric(&dp, "bad_host").await, 1);
}
