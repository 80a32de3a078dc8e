//! A visitor tries to reach a site other than the one its request names or its connection
//! was made for: forwarding headers (`X-Forwarded-Host`, `Forwarded: host=`) naming a
//! tenant, a Host for one tenant on a TLS connection negotiated for another (HTTP/1.1 and
//! HTTP/2), and port 80's redirect pointed at a site of the attacker's choosing. Routing
//! follows the Host (`:authority`) only, a Host the connection's certificate doesn't cover
//! is a 421, and port 80 redirects only the gateway's own names. (The 421 needs tenants
//! from the control-plane's table: `e2e/tests/hostile_host.rs`.) The pod runs in-process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
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
    let dp = DataPlane::in_process(&[A], &[]);
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
async fn port_80_redirects_only_the_gateways_own_names() {
    let dp = DataPlane::in_process(&[A], &[]);
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
