//! Bodies of any size stream through the agent in bounded memory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

const GIB: u64 = 1024 * 1024 * 1024;
/// The agent's peak resident memory must stay well under this.
const RSS_LIMIT_KIB: u64 = 64 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gib_up_and_a_gib_down_in_bounded_memory() {
    let gateway = Gateway::start();
    let local = LocalServer::start().await;
    let mut agent = Agent::serve(&gateway, &local.port().to_string(), &[]);
    let session = gateway.next_session().await;
    agent.connected().await;
    let before = agent.peak_rss_kib();

    let started = std::time::Instant::now();
    let mut exchange = Exchange::open(&session.session, head("POST", "/upload", &[])).await;
    for piece in pattern_pieces(GIB, 1, 256 * 1024) {
        exchange.out.send_body(piece).await.unwrap();
    }
    exchange.end_body().await;
    let reply = exchange.reply().await;
    assert_eq!(
        reply.text(),
        format!("{} {GIB}", hex(&pattern_sha256(GIB, 1)))
    );
    let up = started.elapsed();

    let started = std::time::Instant::now();
    let reply = get(&session.session, &format!("/download?bytes={GIB}&seed=2")).await;
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.body_len, GIB);
    assert_eq!(reply.body_sha256, pattern_sha256(GIB, 2));
    let down = started.elapsed();

    let peak = agent.peak_rss_kib();
    eprintln!(
        "agent peak RSS {} MiB (before the transfers {} MiB); 1 GiB up in {up:.1?}, down in {down:.1?}",
        peak / 1024,
        before / 1024
    );
    assert!(
        peak < RSS_LIMIT_KIB,
        "the agent's peak RSS was {} MiB",
        peak / 1024
    );
}
