//! `--host-header`: a local service that refuses Hosts it doesn't know (as Vite and
//! Jupyter do) behind the real data-plane and agent processes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use hopgate_e2e::{head_service::HeadService, *};

const DOMAIN: &str = "app.hopgate.test";

/// GETs `/echo` through the gateway: the status and the body (the service's view of the
/// request's head, one `name: value` per line).
async fn echo(dp: &DataPlane) -> (u16, String) {
    let response = dp
        .visitor(&[DOMAIN])
        .get(format!("https://{DOMAIN}:{}/echo", dp.https.port()))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The `Host` the visitor sent: the test's pod listens on a port other than 443.
fn public_host(dp: &DataPlane) -> String {
    format!("{DOMAIN}:{}", dp.https.port())
}

fn lines_named<'a>(seen: &'a str, name: &str) -> Vec<&'a str> {
    let prefix = format!("{name}: ");
    seen.lines()
        .filter_map(|line| line.strip_prefix(prefix.as_str()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_the_service_sees_the_public_host_and_refuses_it() {
    let dp = DataPlane::start(&[DOMAIN], &[]);
    let service = HeadService::start(&[]);
    let agent = Agent::start(&dp, DOMAIN, service.addr);
    agent.wait_connected(Duration::from_secs(10));
    let (status, body) = echo(&dp).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body, "This host is not allowed.\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrite_shows_the_service_its_own_address_and_forwards_the_public_one() {
    let dp = DataPlane::start(&[DOMAIN], &[]);
    let service = HeadService::start(&[]);
    let agent = Agent::start_with_args(&dp, DOMAIN, service.addr, &["--host-header", "rewrite"]);
    agent.wait_connected(Duration::from_secs(10));
    let (status, seen) = echo(&dp).await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(lines_named(&seen, "host"), [service.addr.to_string()]);
    assert_eq!(lines_named(&seen, "x-forwarded-host"), [public_host(&dp)]);
    assert_eq!(
        lines_named(&seen, "forwarded"),
        [format!(
            "for=127.0.0.1;host={};proto=https",
            public_host(&dp)
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_given_host_is_what_the_service_sees() {
    let dp = DataPlane::start(&[DOMAIN], &[]);
    let service = HeadService::start(&["dev.internal:5173"]);
    let agent = Agent::start_with_args(
        &dp,
        DOMAIN,
        service.addr,
        &["--host-header", "dev.internal:5173"],
    );
    agent.wait_connected(Duration::from_secs(10));
    let (status, seen) = echo(&dp).await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(lines_named(&seen, "host"), ["dev.internal:5173"]);
    assert_eq!(lines_named(&seen, "x-forwarded-host"), [public_host(&dp)]);
}
