//! Random garbage at every listener of a pod at once — HTTPS (raw bytes at the TLS layer,
//! and garbage inside TLS for the HTTP layer), port 80, DTLS, the relay and the
//! metrics listener: random bytes, truncated TLS records, truncated and oversized heads,
//! stalled, silent and slowloris connections, random and truncated DTLS datagrams. The
//! garbage gets only errors and closes, a visitor of another domain (through the real
//! agent) is served within 1 s throughout, and afterwards the pod is alive, its memory did
//! not balloon and its descriptors are back near where they were.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{sync::Arc, time::Duration};

use hopgate_e2e::*;
use hopgate_test_support::{
    Prober, ProcStats,
    garbage::{
        self,
        tcp::{BoxFuture, Dial, Stream, TcpGarbage, tcp_dial},
        udp::UdpGarbage,
    },
    is_alive, wait_for_fds_at_most,
};
use tokio_rustls::TlsConnector;

/// The domain whose visitor must be served throughout.
const VICTIM: &str = "victim.gw.hopgate.test";
/// The domain the garbage inside TLS names (SNI); it has no agent.
const TARGET: &str = "target.gw.hopgate.test";
/// The pod's header timeout here, so slowloris connections end within the attack.
const HEADER_TIMEOUT: &str = "3s";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_at_every_listener_gets_errors_while_another_domain_is_served() {
    let seed = garbage::seed();
    let cp = ControlPlane::start();
    let key = cp.register(VICTIM).await;
    cp.register(TARGET).await;
    let dp = DataPlane::relaying(
        &cp,
        "pod-a",
        Arc::new(TempDir::new("dp")),
        &[("HOP_SERVER_HEADER_TIMEOUT", HEADER_TIMEOUT)],
    );
    dp.wait_ready(Duration::from_secs(10)).await;
    let service = start_local_service("127.0.0.1:0".parse().unwrap());
    let agent = Agent::start_with_key(&dp, VICTIM, service, &key);
    agent.wait_connected(Duration::from_secs(20));
    let visitor = fresh_connection_visitor(&dp);
    let url = format!("https://{VICTIM}:{}/echo", dp.https.port());
    visit(&visitor, &url)
        .await
        .expect("the victim is served before the attack");

    let before = ProcStats::of(dp.pid());
    let prober = Prober::start(Duration::from_millis(100), Duration::from_secs(5), {
        move || {
            let (visitor, url) = (visitor.clone(), url.clone());
            async move { visit(&visitor, &url).await }
        }
    });
    let relay = dp.relay.expect("a relay listener");
    let (https_raw, https_tls, http, relay, metrics, dtls) = tokio::join!(
        TcpGarbage::new("https (raw)", tcp_dial(dp.https)).run(seed),
        TcpGarbage::new("https (inside TLS)", tls_dial(&dp, TARGET)).run(seed ^ 1),
        TcpGarbage::new("http", tcp_dial(dp.http)).run(seed ^ 2),
        TcpGarbage::new("relay", tcp_dial(relay)).run(seed ^ 3),
        TcpGarbage::new("metrics", tcp_dial(dp.metrics)).run(seed ^ 4),
        UdpGarbage::new(dp.dtls).run(seed ^ 5),
    );
    let probes = prober.stop().await;

    for report in [&https_raw, &https_tls, &http, &relay, &metrics] {
        report.assert_withstood();
    }
    dtls.assert_refused();
    probes.assert_served_within(Duration::from_secs(1), 20);

    assert!(is_alive(dp.pid()), "the pod died: {}", dp.logs());
    let after = ProcStats::of(dp.pid());
    assert!(
        after.rss_kib < before.rss_kib + 64 * 1024,
        "RSS grew from {} KiB to {} KiB",
        before.rss_kib,
        after.rss_kib
    );
    let fds = wait_for_fds_at_most(dp.pid(), before.fds + 16, Duration::from_secs(10)).await;
    assert!(
        fds <= before.fds + 16,
        "descriptors: {} before the attack, still {fds} after",
        before.fds
    );
    // The agent's session survived: the victim is still served, and so is a new request.
    assert_eq!(dp.status_of(VICTIM, "/echo").await, 200);
}

/// A visitor that opens a new connection (TCP and TLS) for every request, as a new visitor
/// would: what the attack's open connections and handshakes could starve. It comes from
/// another address than the garbage (127.0.0.2): another client, not under the garbage's
/// per-IP caps.
fn fresh_connection_visitor(dp: &DataPlane) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&dp.cert_pem).unwrap())
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .resolve(VICTIM, dp.https)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

async fn visit(visitor: &reqwest::Client, url: &str) -> Result<(), String> {
    let response = visitor.get(url).send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    response.bytes().await.map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("status {status}"));
    }
    Ok(())
}

/// TLS connections to the pod's HTTPS listener naming `domain`, trusting its debug
/// certificate, speaking HTTP/1.1.
fn tls_dial(dp: &DataPlane, domain: &str) -> Dial {
    use rustls_pki_types::ServerName;
    let config = dp.tls_http1();
    let connector = TlsConnector::from(config);
    let name = ServerName::try_from(domain.to_owned()).unwrap();
    let https = dp.https;
    Arc::new(move || -> BoxFuture<std::io::Result<Box<dyn Stream>>> {
        let (connector, name) = (connector.clone(), name.clone());
        Box::pin(async move {
            let tcp = tokio::net::TcpStream::connect(https).await?;
            let tls = connector.connect(name, tcp).await?;
            Ok(Box::new(tls) as Box<dyn Stream>)
        })
    })
}
