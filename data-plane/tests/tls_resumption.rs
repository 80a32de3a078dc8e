//! TLS session resumption on the HTTPS listener, driven by a real client (`openssl
//! s_client`, which saves a session's ticket to a file and offers it again): a visitor
//! resumes its session for the name it was made for (TLS 1.3 and 1.2); a session made for
//! one name and offered for another, or for none, ends the handshake; tickets stop
//! resuming once the keys rotate, and new ones resume at once; with rotation set to 0 no
//! session resumes. The pod runs in-process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{
    io::Write,
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use common::*;

const A: &str = "a.gw.hopgate.test";
const B: &str = "b.gw.hopgate.test";

/// What one `openssl s_client` connection printed (stdout and stderr): `Reused` or `New`
/// for the session, then the pod's answer to a GET for `host` that closes the connection.
fn s_client(dp: &DataPlane, host: &str, args: &[&str]) -> String {
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &dp.https.to_string(), "-ign_eof"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl s_client");
    let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    let _ = child.stdin.take().unwrap().write_all(request.as_bytes());
    let output = child.wait_with_output().unwrap();
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    text
}

/// Connects for `name` (SNI and Host) and saves the session the pod issued to `file`.
fn save_session(dp: &DataPlane, name: &str, file: &Path, extra: &[&str]) {
    let file = file.to_str().unwrap();
    let mut args = vec!["-servername", name, "-sess_out", file];
    args.extend_from_slice(extra);
    let out = s_client(dp, name, &args);
    assert!(out.contains("New, TLSv1."), "{out}");
    assert!(std::fs::metadata(file).unwrap().len() > 0, "{out}");
}

/// Offers the session in `file` with `sni` (none when `None`), asking for `host`.
fn offer_session(dp: &DataPlane, sni: Option<&str>, host: &str, file: &Path) -> String {
    let mut args = vec!["-sess_in", file.to_str().unwrap()];
    match sni {
        Some(name) => args.extend(["-servername", name]),
        None => args.push("-noservername"),
    }
    s_client(dp, host, &args)
}

async fn handshakes(dp: &DataPlane, session: &str) -> u64 {
    dp.metric(&format!(
        "hopgate_tls_handshakes_total{{session=\"{session}\"}}"
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_resumes_its_session_for_the_same_name() {
    let dp = DataPlane::in_process(&[A, B], &[]);
    let dir = TempDir::new("tls-resumption");
    let tls13 = dir.0.join("a-13.pem");
    save_session(&dp, A, &tls13, &[]);
    let out = offer_session(&dp, Some(A), A, &tls13);
    assert!(out.contains("Reused, TLSv1.3"), "{out}");
    // The resumed connection serves requests (no agent: 502, from the pod).
    assert!(out.contains("HTTP/1.1 502"), "{out}");
    // TLS 1.2 resumes from its ticket too (the pod keeps no session cache).
    let tls12 = dir.0.join("a-12.pem");
    save_session(&dp, A, &tls12, &["-tls1_2"]);
    let file = tls12.to_str().unwrap();
    let out = s_client(&dp, A, &["-servername", A, "-sess_in", file, "-tls1_2"]);
    assert!(out.contains("Reused, TLSv1.2"), "{out}");
    assert_eq!(handshakes(&dp, "new").await, 2);
    assert_eq!(handshakes(&dp, "resumed").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_not_resumed_for_another_name() {
    let dp = DataPlane::in_process(&[A, B], &[]);
    let dir = TempDir::new("tls-resumption");
    let session = dir.0.join("a.pem");
    save_session(&dp, A, &session, &[]);
    // B is served by the same certificate, yet A's session doesn't open a connection for
    // it; nor for a client that names no site.
    for sni in [Some(B), None, Some("A.GW.HOPGATE.TEST.evil")] {
        let out = offer_session(&dp, sni, B, &session);
        assert!(!out.contains("Reused"), "{sni:?}: {out}");
        assert!(!out.contains("HTTP/1.1"), "{sni:?}: {out}");
        assert!(out.contains("illegal parameter"), "{sni:?}: {out}");
    }
    let refused = "hopgate_rejected_total{reason=\"tls_resumed_for_other_name\"}";
    assert_eq!(dp.metric(refused).await, 3);
    assert_eq!(handshakes(&dp, "resumed").await, 0);
    // The same name in other letters is the same name; a full handshake for B works.
    let out = offer_session(&dp, Some("A.Gw.Hopgate.Test"), A, &session);
    assert!(out.contains("Reused, TLSv1.3"), "{out}");
    save_session(&dp, B, &dir.0.join("b.pem"), &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_stop_resuming_when_the_keys_rotate() {
    let rotation = [("HOP_SERVER_TLS_TICKET_KEY_ROTATION", "2s")];
    let dp = DataPlane::in_process(&[A], &rotation);
    let dir = TempDir::new("tls-resumption");
    let rotations = "hopgate_tls_ticket_key_rotations_total";
    // Right after a rotation: a ticket made now has most of a period to live.
    poll_until("a rotation", Duration::from_secs(5), || async {
        dp.metric(rotations).await >= 1
    })
    .await;
    let old = dir.0.join("old.pem");
    save_session(&dp, A, &old, &[]);
    let out = offer_session(&dp, Some(A), A, &old);
    assert!(out.contains("Reused, TLSv1.3"), "{out}");
    poll_until("another rotation", Duration::from_secs(5), || async {
        dp.metric(rotations).await >= 2
    })
    .await;
    let out = offer_session(&dp, Some(A), A, &old);
    assert!(out.contains("New, TLSv1.3"), "{out}");
    let fresh = dir.0.join("fresh.pem");
    save_session(&dp, A, &fresh, &[]);
    let out = offer_session(&dp, Some(A), A, &fresh);
    assert!(out.contains("Reused, TLSv1.3"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_zero_turns_resumption_off() {
    let off = [("HOP_SERVER_TLS_TICKET_KEY_ROTATION", "0")];
    let dp = DataPlane::in_process(&[A], &off);
    let dir = TempDir::new("tls-resumption");
    let session = dir.0.join("a.pem");
    let file = session.to_str().unwrap();
    let out = s_client(&dp, A, &["-servername", A, "-sess_out", file]);
    assert!(out.contains("HTTP/1.1 502"), "{out}");
    if std::fs::metadata(&session).is_ok_and(|m| m.len() > 0) {
        let out = offer_session(&dp, Some(A), A, &session);
        assert!(out.contains("New, TLSv1.3"), "{out}");
    }
    assert_eq!(handshakes(&dp, "resumed").await, 0);
    assert_eq!(dp.metric("hopgate_tls_ticket_key_rotations_total").await, 0);
}
