//! A visitor tries to reach a site other than the one its request names or its connection
//! was made for: forwarding headers (`X-Forwarded-Host`, `Forwarded: host=`) naming a
//! tenant, a Host for one tenant on a TLS connection negotiated for another (HTTP/1.1 and
//! HTTP/2), and port 80's redirect pointed at a site of the attacker's choosing. Routing
//! follows the Host (`:authority`) only, a Host the connection's certificate doesn't cover
//! is a 421, and port 80 redirects only the gateway's own names.

mod common;

use std::{sync::Arc, time::Duration};

use common::{control_plane::ControlPlane, raw_visitor, *};
use hopgate_protocol::Hello;

/// Served in the development table (and named in the debug certificate).
const A: &str = "a.gw.hopgate.test";
/// Under the gateway's wildcard, registered by no one.
const NOBODY: &str = "nobody.gw.hopgate.test";

async fn metric(dp: &DataPlane, reason: &str) -> u64 {
    dp.metric(&format!("hopgate_rejected_total{{reason=\"{reason}\"}}"))
        .await
}

/// A debug pod serving [`A`] through a stand-in agent that answers `served by a`.
async fn pod_serving_a() -> (DataPlane, FakeAgent) {
    let dp = DataPlane::start(&[A], &[]);
    let agent = fake_agent(&dp, Hello::new(A, KEY, "test")).await;
    assert!(agent.ack.ok, "{:?}", agent.ack);
    serve(agent.session.clone(), |_, _| {
        (200, vec![], b"served by a".to_vec())
    });
    (dp, agent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_headers_never_choose_the_site() {
    let (dp, _agent) = pod_serving_a().await;
    let visitor = dp.visitor(&[A, NOBODY]);
    let nobody = format!("https://{NOBODY}:{}/", dp.https.port());
    for (name, value) in [
        ("x-forwarded-host", A.to_owned()),
        ("forwarded", format!("host={A}")),
        (
            "forwarded",
            format!("for=192.0.2.1;host=\"{A}\";proto=https"),
        ),
    ] {
        let response = visitor
            .get(&nobody)
            .header(name, &value)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        assert_eq!(status, 404, "{name}: {value}: {body}");
        assert!(!body.contains("served by a"), "{name}: {value}: {body}");
    }
    let own = visitor
        .get(format!("https://{A}:{}/", dp.https.port()))
        .header("x-forwarded-host", NOBODY)
        .send()
        .await
        .unwrap();
    assert_eq!(own.text().await.unwrap(), "served by a");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_80_redirects_only_the_gateways_own_names() {
    let dp = DataPlane::start(&[A], &[]);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |host: &str, extra: Option<(&str, &str)>| {
        let mut request = client
            .get(format!("http://{}/login?next=1", dp.http))
            .header("host", host);
        if let Some(header) = extra {
            request = request.header(header.0, header.1);
        }
        async move { request.send().await.unwrap() }
    };
    for extra in [
        ("x-forwarded-host", "evil.example"),
        ("forwarded", "host=evil.example"),
    ] {
        let response = get(A, Some(extra)).await;
        assert_eq!(response.status(), 308, "{extra:?}");
        assert_eq!(
            response.headers()["location"],
            format!("https://{A}/login?next=1").as_str(),
            "{extra:?}"
        );
    }
    for host in ["evil.example", "gw.hopgate.test.evil.example"] {
        let response = get(host, None).await;
        assert_eq!(response.status(), 404, "{host}");
        assert!(response.headers().get("location").is_none(), "{host}");
    }
    // The gateway's own domain and the names its wildcard covers are its own.
    for host in ["gw.hopgate.test", NOBODY] {
        assert_eq!(get(host, None).await.status(), 308, "{host}");
    }
    assert_eq!(metric(&dp, "redirect_unknown_host").await, 2);
}
