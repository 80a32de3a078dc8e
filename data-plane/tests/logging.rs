//! The transport's `tracing` events in the data-plane's JSON log: with `HOP_LOG_LEVEL=debug`
//! a datagram on the DTLS port that belongs to no association, and a ClientHello whose
//! cookie does not verify, each leave a debug line naming the transport's module in
//! `target`. At `info` neither does, and the log reads as it always has.
//!
//! A real process: the binary's own logging set-up is the point.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{net::UdpSocket, time::Duration};

use common::*;
use hopgate_test_support::garbage::udp::client_hello;

const DOMAIN: &str = "app.gw.hopgate.test";
const STRAY: &str = "dropped a DTLS record: no association with its sender";
const BAD_COOKIE: &str = "dropped a ClientHello: its cookie did not verify";
/// Where the transport's DTLS table logs from.
const TARGET: &str = "hopgate_transport::dtls";
const LIMIT: Duration = Duration::from_secs(10);

/// Sends `dp` seven bytes of garbage and a ClientHello with a forged cookie; returns the
/// sender's address.
fn send_strays(dp: &DataPlane) -> String {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.send_to(b"garbage", dp.dtls).unwrap();
    socket
        .send_to(&client_hello([0x5a; 32], &[0xc0; 20]), dp.dtls)
        .unwrap();
    socket.local_addr().unwrap().to_string()
}

/// The first log line of `dp` whose message is `msg`, waiting for it.
async fn line_with(dp: &DataPlane, msg: &str) -> String {
    dp.log.wait_for_msg(msg, LIMIT).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_debug_dropped_records_are_logged_with_the_transport_s_target() {
    let dp = DataPlane::start(&[DOMAIN], &[("HOP_LOG_LEVEL", "debug")]);
    let sender = send_strays(&dp);

    let stray = line_with(&dp, STRAY).await;
    assert_eq!(field(&stray, "target").as_deref(), Some(TARGET), "{stray}");
    assert_eq!(field(&stray, "level").as_deref(), Some("DEBG"), "{stray}");
    assert_eq!(field(&stray, "process").as_deref(), Some("data-plane"));
    assert_eq!(field(&stray, "peer"), Some(sender.clone()), "{stray}");
    assert!(stray.contains("\"len\":7"), "{stray}");

    let bad_cookie = line_with(&dp, BAD_COOKIE).await;
    assert_eq!(field(&bad_cookie, "target").as_deref(), Some(TARGET));
    assert_eq!(field(&bad_cookie, "peer"), Some(sender), "{bad_cookie}");
    assert!(
        !bad_cookie.contains("c0c0"),
        "no cookie bytes: {bad_cookie}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_info_they_are_not_and_the_log_is_as_before() {
    let dp = DataPlane::start(&[DOMAIN], &[("HOP_LOG_LEVEL", "info")]);
    send_strays(&dp);
    // Both were handled: the listener counted them.
    let dp = &dp;
    poll_until("the strays counted", LIMIT, || async move {
        let stray = "hopgate_dtls_dropped_datagrams_total{reason=\"unsolicited\"}";
        let bad_cookie = "hopgate_rejected_total{reason=\"dtls_bad_cookie\"}";
        dp.metric(stray).await >= 1 && dp.metric(bad_cookie).await >= 1
    })
    .await;

    let logs = dp.logs();
    assert!(logs.contains("\"msg\":\"listening\""), "{logs}");
    for line in logs.lines() {
        for key in ["ts", "level", "msg"] {
            assert!(field(line, key).is_some(), "no {key} in {line}");
        }
        assert_eq!(field(line, "process").as_deref(), Some("data-plane"));
        assert_ne!(field(line, "level").as_deref(), Some("DEBG"), "{line}");
        assert_eq!(field(line, "target"), None, "{line}");
    }
}
