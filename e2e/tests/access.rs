//! Per-domain access control with real processes: a policy set through the control-plane's
//! admin API is enforced by every pod on the visitors' requests, on the pod the visitor
//! reached (before any relay), from the visitor's TCP address, and from the pod's last copy
//! of the table while the control-plane is away; the credentials stay at the gateway. And
//! the agent's own `--basic-auth`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{net::IpAddr, sync::Arc, time::Duration};

use hopgate_e2e::{two_pods::TwoPods, *};
use serde_json::json;

const DOMAIN: &str = "shop.gw.hopgate.test";
const USER: &str = "alice";
const PASSWORD: &str = "correct horse battery";

fn url(dp: &DataPlane, path: &str) -> String {
    format!("https://{DOMAIN}:{}{path}", dp.https.port())
}

fn loopback(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

/// `hopgate_access_denied_total{reason}` on `dp`.
async fn denied(dp: &DataPlane, reason: &str) -> u64 {
    dp.metric(&format!(
        "hopgate_access_denied_total{{reason=\"{reason}\"}}"
    ))
    .await
}

/// Waits until a GET of `/echo` through `dp` from `visitor` answers `status` (a policy
/// just set has reached the pod).
async fn wait_for_status(dp: &DataPlane, visitor: &reqwest::Client, status: u16) {
    poll_until(
        &format!("{} answers {status}", dp.https),
        Duration::from_secs(5),
        || async { dp.try_status(visitor, DOMAIN, "/echo").await == status },
    )
    .await;
}

/// What the local service saw of a request, one `name: value` per line.
async fn seen(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// Through `dp` (`other` being the second pod, `relaying` the one that relays): no or
/// wrong credentials get the 401 page, the right ones reach the service without their
/// `Authorization`, and each refusal is counted once, on `dp`, and never relayed.
async fn credentials_are_asked_for_and_kept_at(
    dp: &DataPlane,
    other: &DataPlane,
    relaying: &DataPlane,
) {
    let visitor = dp.visitor(&[DOMAIN]);
    wait_for_status(dp, &visitor, 401).await;
    let (missing, wrong) = (
        denied(dp, "auth_missing").await,
        denied(dp, "auth_wrong").await,
    );
    let other_missing = denied(other, "auth_missing").await;
    let relayed = relaying.metric("hopgate_relayed_requests_total").await;

    // No credentials, or another scheme: 401 asking for them, the gateway's own page.
    for authorization in [None, Some("Bearer the-services-own-token")] {
        let mut request = visitor
            .get(url(dp, "/echo"))
            .header("accept", "application/json");
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.headers()["www-authenticate"],
            format!("Basic realm=\"{DOMAIN}\", charset=\"UTF-8\"")
        );
        let page: serde_json::Value = response.json().await.unwrap();
        assert_eq!(page["error"]["status"], 401, "{page}");
    }
    // Wrong ones: 401 again (a wrong user as a wrong password).
    for (user, password) in [(USER, "not the password"), ("bob", PASSWORD)] {
        let response = visitor
            .get(url(dp, "/echo"))
            .basic_auth(user, Some(password))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{user}");
        assert!(response.headers().contains_key("www-authenticate"));
    }
    // The right ones: through, and the service never sees them.
    let through = seen(
        visitor
            .post(url(dp, "/echo"))
            .basic_auth(USER, Some(PASSWORD))
            .body("hello")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        !through.to_lowercase().contains("authorization"),
        "{through}"
    );
    assert!(through.contains(&format!("host: {DOMAIN}")), "{through}");

    // Each refusal counted once, on the pod that refused it, and none was relayed.
    assert_eq!(denied(dp, "auth_missing").await, missing + 2);
    assert_eq!(denied(dp, "auth_wrong").await, wrong + 2);
    assert_eq!(denied(other, "auth_missing").await, other_missing);
    let relayed_now = relaying.metric("hopgate_relayed_requests_total").await;
    let expected = relayed + u64::from(std::ptr::eq(dp, relaying));
    assert_eq!(
        relayed_now, expected,
        "only the admitted request was relayed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_is_enforced_by_every_pod_and_the_credentials_stay_at_the_gateway() {
    // The agent lives as long as it is bound.
    let TwoPods {
        a,
        b,
        cp,
        agent: _agent,
        ..
    } = TwoPods::start(DOMAIN).await;
    let shown = cp
        .set_access(
            DOMAIN,
            json!({"basic_auth": [{"user": USER, "password": PASSWORD}]}),
        )
        .await;
    assert_eq!(shown["basic_auth"], json!([{"user": USER}]));
    assert!(!shown.to_string().contains(PASSWORD));

    // Pod A holds the agent's session; pod B relays to it.
    for (dp, other) in [(&a, &b), (&b, &a)] {
        credentials_are_asked_for_and_kept_at(dp, other, &b).await;
    }

    // A request straight to the relay listener, without the pods' token, is no way around.
    let response = reqwest::Client::new()
        .get(format!("http://{}/echo", a.relay.unwrap()))
        .header("host", DOMAIN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    // Cleared: everyone is let in again, and a visitor's own Authorization reaches the
    // service once more.
    let cleared = cp.set_access(DOMAIN, json!({})).await;
    assert_eq!(cleared["basic_auth"], json!([]));
    for dp in [&a, &b] {
        let visitor = dp.visitor(&[DOMAIN]);
        wait_for_status(dp, &visitor, 200).await;
        let through = seen(
            visitor
                .get(url(dp, "/echo"))
                .header("authorization", "Bearer the-services-own-token")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert!(
            through.contains("authorization: Bearer the-services-own-token"),
            "{through}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn address_rules_judge_the_tcp_peer_on_the_pod_the_visitor_reached() {
    // The agent lives as long as it is bound.
    let TwoPods {
        a,
        b,
        cp,
        agent: _agent,
        ..
    } = TwoPods::start(DOMAIN).await;
    // 127.0.0.1 (the pods' own address when they relay) is in no allowed range: pod A
    // serves pod B's visitors all the same, since B judged them.
    cp.set_access(
        DOMAIN,
        json!({"allow_cidrs": ["127.0.0.2/31"], "deny_cidrs": ["127.0.0.3"]}),
    )
    .await;
    for dp in [&a, &b] {
        let (allowed, denied_one, outside) = (
            dp.visitor_from(&[DOMAIN], loopback(2)),
            dp.visitor_from(&[DOMAIN], loopback(3)),
            dp.visitor_from(&[DOMAIN], loopback(9)),
        );
        wait_for_status(dp, &outside, 403).await;
        let before = (
            denied(dp, "cidr_denied").await,
            denied(dp, "cidr_not_allowed").await,
        );
        // Denied wins over allowed; headers claiming another address change nothing.
        let response = denied_one
            .get(url(dp, "/echo"))
            .header("x-forwarded-for", "127.0.0.2")
            .header("x-real-ip", "127.0.0.2")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
        assert!(!response.headers().contains_key("www-authenticate"));
        assert!(response.text().await.unwrap().contains("403 Forbidden"));
        assert_eq!(dp.try_status(&outside, DOMAIN, "/echo").await, 403);
        let through = seen(allowed.get(url(dp, "/echo")).send().await.unwrap()).await;
        assert!(through.contains("x-real-ip: 127.0.0.2"), "{through}");
        assert_eq!(denied(dp, "cidr_denied").await, before.0 + 1);
        assert_eq!(denied(dp, "cidr_not_allowed").await, before.1 + 1);
    }

    cp.set_access(DOMAIN, json!({})).await;
    for dp in [&a, &b] {
        wait_for_status(dp, &dp.visitor_from(&[DOMAIN], loopback(3)), 200).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_enforces_its_last_copy_while_the_control_plane_is_away() {
    let mut cp = ControlPlane::start();
    cp.register(DOMAIN).await;
    cp.set_access(
        DOMAIN,
        json!({"basic_auth": [{"user": USER, "password": PASSWORD}]}),
    )
    .await;
    let state = Arc::new(TempDir::new("dp"));
    let mut pod = DataPlane::subscribed(&cp, "pod-a", state.clone());
    pod.wait_ready(Duration::from_secs(10)).await;
    let visitor = pod.visitor(&[DOMAIN]);
    wait_for_status(&pod, &visitor, 401).await;

    // The control-plane goes away, then the pod restarts from its snapshot file.
    cp.kill();
    pod.kill();
    let pod = DataPlane::subscribed(&cp, "pod-a", state);
    pod.wait_ready(Duration::from_secs(10)).await;
    let visitor = pod.visitor(&[DOMAIN]);
    assert_eq!(pod.try_status(&visitor, DOMAIN, "/echo").await, 401);
    // Past the policy, the domain has no agent here: 502, not a way in.
    let response = visitor
        .get(url(&pod, "/echo"))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agents_own_basic_auth_guards_the_local_service() {
    let domain = "app.hopgate.test";
    let dp = DataPlane::start(&[domain], &[]);
    let local = start_local_service("127.0.0.1:0".parse().unwrap());
    let agent = Agent::start_with_args(
        &dp,
        domain,
        local,
        &[
            "--basic-auth",
            "alice:agent-password",
            "--basic-auth",
            "bob:bobs-password",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    );
    agent.wait_connected(Duration::from_secs(10));
    let visitor = dp.visitor(&[domain]);
    let echo = format!("https://{domain}:{}/echo", dp.https.port());

    let response = visitor.get(&echo).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        format!("Basic realm=\"{domain}\", charset=\"UTF-8\"")
    );
    let response = visitor
        .post(&echo)
        .basic_auth("alice", Some("bobs-password"))
        .body(vec![0u8; 100_000])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    for (user, password) in [("alice", "agent-password"), ("bob", "bobs-password")] {
        let through = seen(
            visitor
                .get(&echo)
                .basic_auth(user, Some(password))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert!(
            !through.to_lowercase().contains("authorization"),
            "{through}"
        );
    }

    let metrics = reqwest::get(format!(
        "http://{}/metrics",
        agent.metrics_addr(Duration::from_secs(5))
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    for line in [
        "hopgate_agent_access_denied_total{reason=\"auth_missing\"} 1",
        "hopgate_agent_access_denied_total{reason=\"auth_wrong\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "no {line} in {metrics}");
    }
    assert!(!agent.said().contains("agent-password"));
}
