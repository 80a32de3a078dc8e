//! Trust between pods and the control-plane, with real processes: the relay listener
//! takes its own token (`HOP_RELAY_TOKEN`), never the control-plane's; with TLS on, the
//! table stream and the cross-pod path are HTTPS (the relay verified against its CA under
//! a fixed server name, since relay URLs are IP addresses) and plain HTTP is refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{sync::Arc, time::Duration};

use hopgate_e2e::{pki::Pki, two_pods::TwoPods, *};

const DOMAIN: &str = "shop.gw.hopgate.test";

/// GETs `/echo` for `host` on `dp`'s relay listener over plain HTTP with `token`.
async fn relay_get(dp: &DataPlane, host: &str, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!(
            "http://{}/echo",
            dp.relay.expect("a relay listener")
        ))
        .header("host", host)
        .header("x-hopgate-relay-token", token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_takes_the_relay_token_not_the_internal_one() {
    let cp = ControlPlane::start();
    let key = cp.register(DOMAIN).await;
    let a = DataPlane::relaying(&cp, "pod-a", Arc::new(TempDir::new("dp")), &[]);
    a.wait_ready(Duration::from_secs(10)).await;
    let local = start_local_service("127.0.0.1:0".parse().unwrap());
    let agent = Agent::start_with_key(&a, DOMAIN, local, &key);
    agent.wait_connected(Duration::from_secs(10));

    // The control-plane's credential opens nothing on a pod's relay listener.
    let internal = control_plane::INTERNAL_TOKEN;
    assert_eq!(relay_get(&a, DOMAIN, internal).await, 401);
    assert_eq!(
        relay_get(&a, DOMAIN, "wrong-relay-token-0123456789abcdef").await,
        401
    );
    assert_eq!(relay_get(&a, DOMAIN, RELAY_TOKEN).await, 200);
    assert_eq!(
        a.metric("hopgate_rejected_total{reason=\"relay_token\"}")
            .await,
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tls_the_table_and_the_relay_are_https_and_plain_http_is_refused() {
    let pki = Pki::new();
    let internal_tls = pki.leaf("control-plane", "IP:127.0.0.1");
    // Only the fixed name: the pods connect to an IP address.
    let relay_tls = pki.leaf("relay", "DNS:hopgate-relay");
    let cp = ControlPlane::start_with(&[
        ("HOP_INTERNAL_TLS_CERT".into(), internal_tls.cert.clone()),
        ("HOP_INTERNAL_TLS_KEY".into(), internal_tls.key.clone()),
    ]);
    let key = cp.register(DOMAIN).await;
    let url = format!("https://{}", cp.internal);
    let ca = pki.ca();
    let env = [
        ("HOP_CONTROL_PLANE_URL", url.as_str()),
        ("HOP_CONTROL_PLANE_CA", ca.as_str()),
        ("HOP_RELAY_TLS_CERT", relay_tls.cert.as_str()),
        ("HOP_RELAY_TLS_KEY", relay_tls.key.as_str()),
        ("HOP_RELAY_CA", ca.as_str()),
    ];
    // Ready = the table arrived over the HTTPS stream; then pod-b relays over HTTPS.
    let TwoPods {
        a,
        b,
        agent: _agent,
        cp,
        ..
    } = TwoPods::start_on(cp, DOMAIN, &key, &env).await;
    assert!(b.metric("hopgate_relayed_requests_total").await >= 1);

    // Plain HTTP reaches neither listener.
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let relayed = plain
        .get(format!("http://{}/echo", a.relay.unwrap()))
        .header("host", DOMAIN)
        .header("x-hopgate-relay-token", RELAY_TOKEN)
        .send()
        .await;
    assert!(
        relayed.as_ref().is_err() || relayed.as_ref().is_ok_and(|r| !r.status().is_success()),
        "plain HTTP to the relay: {relayed:?}"
    );
    let table = plain
        .get(format!("http://{}/internal/v1/table?pod=x", cp.internal))
        .bearer_auth(control_plane::INTERNAL_TOKEN)
        .send()
        .await;
    assert!(
        table.as_ref().is_err() || table.as_ref().is_ok_and(|r| !r.status().is_success()),
        "plain HTTP to the control-plane: {table:?}"
    );
}
