//! Headers a visitor forges to pass for someone else: its own `X-Real-IP` never reaches the
//! service; the service sees the visitor's TCP address there (as in `X-Forwarded-For`'s
//! last entry), computed by the pod the visitor reached even when another pod serves it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{net::IpAddr, time::Duration};

use hopgate_e2e::{two_pods::TwoPods, *};

const DOMAIN: &str = "shop.gw.hopgate.test";
/// The visitor's own loopback address (the pods relay to each other from 127.0.0.1).
const VISITOR: [u8; 4] = [127, 0, 0, 2];

/// The headers the local service saw for a GET of `/echo` through `dp` from [`VISITOR`]
/// with a forged `X-Real-IP`, one `name: value` per line.
async fn seen_through(dp: &DataPlane) -> Vec<String> {
    let visitor = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&dp.cert_pem).unwrap())
        .local_address(IpAddr::from(VISITOR))
        .resolve(DOMAIN, dp.https)
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let response = visitor
        .get(format!("https://{DOMAIN}:{}/echo", dp.https.port()))
        .header("x-real-ip", "203.0.113.66")
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    text.lines().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_x_real_ip_is_replaced_by_the_visitors_address() {
    let pods = TwoPods::start(DOMAIN).await;
    for (pod, dp) in [("direct", &pods.a), ("relayed", &pods.b)] {
        let seen = seen_through(dp).await;
        let values = |name: &str| -> Vec<&str> {
            seen.iter()
                .filter_map(|line| line.strip_prefix(&format!("{name}: ")))
                .collect()
        };
        assert_eq!(values("x-real-ip"), ["127.0.0.2"], "{pod}: {seen:?}");
        assert_eq!(
            values("x-forwarded-for"),
            ["203.0.113.9, 127.0.0.2"],
            "{pod}: {seen:?}"
        );
    }
}
