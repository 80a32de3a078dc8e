//! `--transport auto` under a live tunnel whose UDP dies, then comes back: the agent sees
//! its DTLS session go silent, serves over TLS/TCP within seconds (the TCP session joins
//! the same pod before the silent one leaves), probes UDP in the background, and moves
//! back to DTLS once it answers, the TCP session draining what it still carries.
//!
//! Real processes: a debug data-plane, the agent, a local HTTP service; the agent's DTLS
//! goes through a UDP relay that drops everything on command, its TCP to the pod's HTTPS
//! port directly.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use hopgate_e2e::{
    ha::agent_metric,
    visits::{outage, requests_around, served_again},
    *,
};
use hopgate_lossy_relay::{Relay, RelayConfig};

const DOMAIN: &str = "switch.gw.hopgate.test";
const BLOCK: Duration = Duration::from_secs(10);
const BEFORE: Duration = Duration::from_secs(1);
/// Long enough for the probes (at most 2 s, then 4 s apart here) to find UDP back.
const AFTER: Duration = Duration::from_secs(12);
/// From the pod's answer to the TCP session's hello until the test has read the agent's
/// line saying so, at most.
const SAID_SLACK: Duration = Duration::from_millis(100);
/// A request served on a working session is answered within this.
const PROMPT: Duration = Duration::from_secs(1);

async fn metric(addr: SocketAddr, name: &str, labels: &str) -> f64 {
    agent_metric(addr, &format!("{name}{{domain=\"{DOMAIN}\",{labels}}}"))
        .await
        .unwrap_or(-1.0)
}

/// Waits (without blocking the runtime) for a line of the agent's status output.
async fn said(agent: &Agent, what: &str, within: Duration) -> Instant {
    let deadline = Instant::now() + within;
    while !agent.output.contains(what) {
        assert!(
            Instant::now() < deadline,
            "no `{what}` within {within:?}: {}",
            agent.said()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Instant::now()
}

/// The agent on `auto` with its DTLS through `udp` and its TCP to the pod's HTTPS port;
/// probes at most 2 s, then 4 s apart, each given 1 s.
fn start_agent(dp: &DataPlane, udp: SocketAddr, service: SocketAddr) -> Agent {
    let https = dp.https.to_string();
    let args = [
        "--transport",
        "auto",
        "--tcp-server",
        &https,
        "--metrics-listen",
        "127.0.0.1:0",
    ];
    let env = [
        ("HOP_CLIENT_UDP_PROBE_FIRST_MS", "2000"),
        ("HOP_CLIENT_UDP_PROBE_MAX_MS", "4000"),
        ("HOP_CLIENT_UDP_TIMEOUT_MS", "1000"),
    ];
    Agent::start_via_with_env_and_args(dp, udp, (DOMAIN, service), &env, &args)
}

/// A pod, a local service, and the agent on `auto` with its DTLS through a relay, up.
async fn tunnel_through_relay() -> (DataPlane, Relay, Agent) {
    let dp = DataPlane::start(&[DOMAIN], &[]);
    dp.wait_ready(Duration::from_secs(10)).await;
    let service = start_local_service("127.0.0.1:0".parse().unwrap());
    let relay = hopgate_lossy_relay::start(RelayConfig::new(dp.dtls))
        .await
        .unwrap();
    let agent = start_agent(&dp, relay.local_addr(), service);
    agent.wait_connected(Duration::from_secs(10));
    (dp, relay, agent)
}

/// Its metrics and its JSON log say where the tunnel went and why.
async fn says_it_is_back_on_udp(agent: &Agent, metrics: SocketAddr) {
    // The metrics say where the tunnel went and why, and that UDP alone carries it now
    // (a session told to leave no longer counts, whatever it still drains).
    let switches = "hopgate_agent_transport_switches_total";
    let silent = "to=\"tcp\",reason=\"udp_silent\"";
    let answers = "to=\"udp\",reason=\"udp_answers\"";
    assert_eq!(metric(metrics, switches, silent).await, 1.0);
    assert_eq!(metric(metrics, switches, answers).await, 1.0);
    let transport = "hopgate_agent_transport";
    assert_eq!(metric(metrics, transport, "transport=\"tcp\"").await, 0.0);
    assert_eq!(metric(metrics, transport, "transport=\"udp\"").await, 1.0);
    // The JSON log says it too.
    assert!(
        agent
            .logs
            .contains("\"msg\":\"udp silent; replacing the session over tcp\"")
    );
    assert!(
        agent
            .logs
            .contains("\"msg\":\"udp answers again; back on udp\"")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_dying_mid_session_moves_to_tcp_and_back_without_failed_requests() {
    let (dp, relay, agent) = tunnel_through_relay().await;
    assert!(agent.said().contains("over udp"), "{}", agent.said());
    let metrics = agent.metrics_addr(Duration::from_secs(10));
    assert_eq!(
        metric(metrics, "hopgate_agent_transport", "transport=\"udp\"").await,
        1.0
    );

    let origin = Instant::now();
    let (block_tx, block_rx) = tokio::sync::oneshot::channel::<Instant>();
    let requests = requests_around(
        &dp,
        DOMAIN,
        origin,
        (BEFORE + BLOCK + AFTER, BEFORE),
        async || {
            relay.block(true);
            let _ = block_tx.send(Instant::now());
        },
    );
    let path = async {
        let blocked = block_rx.await.unwrap();
        let on_tcp = said(&agent, "over tcp (udp silent for", Duration::from_secs(5)).await;
        // A download that starts on TCP and waits, mostly unread, across the move back.
        let size: u64 = 8 << 20;
        let visitor = dp.visitor(&[DOMAIN]);
        let url = format!("https://{DOMAIN}:{}/bytes/{size}", dp.https.port());
        let mut download = visitor.get(url).send().await.unwrap();
        let mut received = Vec::new();
        while received.len() < 1 << 20 {
            received.extend_from_slice(&download.chunk().await.unwrap().unwrap());
        }
        tokio::time::sleep_until((blocked + BLOCK).into()).await;
        relay.block(false);
        let on_udp = said(&agent, "udp answers again: back on udp", AFTER).await;
        (on_tcp - origin, on_udp - blocked, download, received, size)
    };
    let ((outcomes, changed_at), (tcp_up, udp_back_after, download, received, size)) =
        tokio::join!(requests, path);

    // The download that crossed the move back is intact.
    finish_bytes_download(download, received, size).await;

    let failed_after_tcp: Vec<_> = outcomes
        .iter()
        .filter(|o| o.started >= tcp_up && !o.ok())
        .collect();
    let failed = outcomes.iter().filter(|o| !o.ok()).count();
    let served = served_again(&outcomes, changed_at);
    let slowest = outcomes.iter().map(|o| o.ended - o.started).max().unwrap();
    eprintln!(
        "{} requests, {failed} failed; tcp up {:?} after the block, served again after \
         {served:?}, outage {:?}, slowest {slowest:?}; back on udp {udp_back_after:?} \
         after the block began",
        outcomes.len(),
        tcp_up.saturating_sub(changed_at),
        outage(&outcomes, changed_at),
    );
    // Found silent at most a keepalive (3 s) and two round trips after the block, then a
    // TLS session: the margin is for a loaded test machine.
    assert!(served < Duration::from_secs(5), "{outcomes:?}");
    assert!(failed_after_tcp.is_empty(), "{failed_after_tcp:?}");
    // The TCP session's hello named the silent one: the pod routes it nothing new, so no
    // request after the switch waits for the pod to declare it dead (4 s of silence).
    let waited_after_tcp: Vec<_> = outcomes
        .iter()
        .filter(|o| o.started >= tcp_up + SAID_SLACK && o.ended - o.started > PROMPT)
        .collect();
    assert!(waited_after_tcp.is_empty(), "{waited_after_tcp:?}");
    assert!(udp_back_after > BLOCK, "back on udp only once it works");

    says_it_is_back_on_udp(&agent, metrics).await;
    assert_eq!(dp.status_of(DOMAIN, "/echo").await, 200);
}

/// UDP dies while the tunnel is idle: once the agent serves over TCP, every request is
/// answered at once. The silent session holds no request, so without the TCP session's
/// hello naming it, the pod would spread new requests over both and some would wait for
/// the silent one to be declared dead (4 s of silence).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_switch_no_request_waits_for_the_silent_session() {
    let (dp, relay, agent) = tunnel_through_relay().await;
    assert_eq!(dp.status_of(DOMAIN, "/echo").await, 200);

    relay.block(true);
    said(&agent, "over tcp (udp silent for", Duration::from_secs(5)).await;
    let visitor = dp.visitor(&[DOMAIN]);
    let url = format!("https://{DOMAIN}:{}/echo", dp.https.port());
    for i in 0..10 {
        let started = Instant::now();
        let status = visitor.get(&url).send().await.unwrap().status();
        let took = started.elapsed();
        assert_eq!(status, 200, "request {i}");
        assert!(took < PROMPT, "request {i} took {took:?}: {}", agent.said());
    }
    assert!(
        dp.logs()
            .contains("the agent's session went silent; it leaves")
    );
}
