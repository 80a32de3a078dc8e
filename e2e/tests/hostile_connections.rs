//! Attacks on the HTTPS listener itself, against a real pod with a real agent: thousands of
//! silent TCP connections, slow TLS handshakes, one address holding too many connections,
//! one HTTP/2 connection opening too many streams, and a rapid-reset flood. The attacker
//! comes from 127.0.0.1; a well-behaved visitor from 127.0.0.2 (another client IP, so the
//! per-IP caps don't touch it) must be served throughout, each time on a new connection.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    net::{IpAddr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use hopgate_e2e::*;
use hopgate_test_support::{Prober, ProcStats, is_alive, wait_for_fds_at_most};
use rustls_pki_types::ServerName;
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
};
use tokio_rustls::{TlsConnector, client::TlsStream};

const DOMAIN: &str = "app.gw.hopgate.test";
const ATTACKER: [u8; 4] = [127, 0, 0, 1];
const VISITOR: [u8; 4] = [127, 0, 0, 2];

/// A pod with `env`, a real agent for [`DOMAIN`] in front of a real local service.
fn gateway(env: &[(&str, &str)]) -> (DataPlane, Agent) {
    let dp = DataPlane::start(&[DOMAIN], env);
    let service = start_local_service("127.0.0.1:0".parse().unwrap());
    let agent = Agent::start(&dp, DOMAIN, service);
    agent.wait_connected(Duration::from_secs(20));
    (dp, agent)
}

/// The well-behaved visitor: a new TCP connection and TLS handshake for every request,
/// from [`VISITOR`], each answered within 1 s, every 100 ms while the attack lasts.
fn visitor(dp: &DataPlane) -> Prober {
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&dp.cert_pem).unwrap())
        .resolve(DOMAIN, dp.https)
        .local_address(IpAddr::from(VISITOR))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let url = format!("https://{DOMAIN}:{}/echo", dp.https.port());
    Prober::start(
        Duration::from_millis(100),
        Duration::from_secs(5),
        move || {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let response = client.get(&url).send().await.map_err(|e| e.to_string())?;
                let status = response.status();
                response.bytes().await.map_err(|e| e.to_string())?;
                match status.as_u16() {
                    200 => Ok(()),
                    other => Err(format!("status {other}")),
                }
            }
        },
    )
}

async fn rejected(dp: &DataPlane, reason: &str) -> u64 {
    dp.metric(&format!("hopgate_rejected_total{{reason=\"{reason}\"}}"))
        .await
}

async fn tcp_from(from: [u8; 4], to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((from, 0)))?;
    socket.connect(to).await
}

/// A TLS connection from `from` offering `alpn`.
async fn tls_from(
    dp: &DataPlane,
    from: [u8; 4],
    alpn: &[u8],
) -> std::io::Result<TlsStream<TcpStream>> {
    let config = dp.tls_offering(alpn);
    let tcp = tcp_from(from, dp.https).await?;
    let name = ServerName::try_from(DOMAIN.to_owned()).unwrap();
    TlsConnector::from(config).connect(name, tcp).await
}

/// Whether the server closed `stream` (EOF or reset) within `limit`.
async fn closed_within(stream: &mut (impl AsyncRead + Unpin), limit: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_silent_connections_do_not_delay_another_visitor() {
    let (dp, _agent) = gateway(&[]);
    let before = ProcStats::of(dp.pid());
    let probes = visitor(&dp);

    // 4,000 connections that never send a byte, all held open until the end.
    let stop = Arc::new(AtomicBool::new(false));
    let https = dp.https;
    let mut attackers = Vec::new();
    for _ in 0..8 {
        let stop = stop.clone();
        attackers.push(tokio::spawn(async move {
            let mut held = Vec::new();
            while held.len() < 500 && !stop.load(Ordering::Relaxed) {
                if let Ok(tcp) = tcp_from(ATTACKER, https).await {
                    held.push(tcp);
                }
                // Paced, so the pod sees a steady stream rather than one burst.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            held.len()
        }));
    }
    // The attack lasts past the pod's TLS handshake timeout while the visitor probes: the
    // time is the point.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let probes = probes.stop().await;
    stop.store(true, Ordering::Relaxed);
    let mut opened = 0;
    for attacker in attackers {
        opened += attacker.await.unwrap();
    }

    println!(
        "{opened} silent connections; visitor: {} requests, max {:?}",
        probes.samples.len(),
        probes.max_latency()
    );
    assert!(opened >= 3000, "only {opened} silent connections opened");
    probes.assert_served_within(Duration::from_secs(1), 20);
    let refused = rejected(&dp, "handshakes_per_ip").await;
    assert!(refused >= 2000, "{refused} connections refused at once");
    assert!(rejected(&dp, "tls_handshake_timeout").await >= 1);
    assert!(is_alive(dp.pid()));
    let fds = wait_for_fds_at_most(dp.pid(), before.fds + 16, Duration::from_secs(10)).await;
    assert!(
        fds <= before.fds + 16,
        "{} descriptors before, {fds} after",
        before.fds
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_tls_handshakes_are_cut_at_the_deadline() {
    let (dp, _agent) = gateway(&[("HOP_SERVER_TLS_HANDSHAKE_TIMEOUT", "1s")]);
    let probes = visitor(&dp);
    // The first bytes of a ClientHello announcing 512 bytes, then nothing.
    const PARTIAL_HELLO: &[u8] = &[
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ];
    let mut slow = Vec::new();
    for _ in 0..10 {
        let https = dp.https;
        slow.push(tokio::spawn(async move {
            let mut tcp = tcp_from(ATTACKER, https).await.unwrap();
            tcp.write_all(PARTIAL_HELLO).await.unwrap();
            let sent = Instant::now();
            let closed = closed_within(&mut tcp, Duration::from_secs(5)).await;
            (closed, sent.elapsed())
        }));
    }
    for task in slow {
        let (closed, took) = task.await.unwrap();
        assert!(closed, "a slow handshake was never cut");
        assert!(
            took >= Duration::from_millis(800) && took < Duration::from_millis(2500),
            "cut after {took:?}, not at the 1 s deadline"
        );
    }
    probes
        .stop()
        .await
        .assert_served_within(Duration::from_secs(1), 5);
    assert_eq!(rejected(&dp, "tls_handshake_timeout").await, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_per_ip_cap_are_closed_at_once() {
    let (dp, _agent) = gateway(&[
        ("HOP_SERVER_MAX_CONNECTIONS_PER_IP", "8"),
        ("HOP_SERVER_MAX_HANDSHAKES_PER_IP", "4"),
        // Far beyond the waits below: a close within them is the cap's, not the deadline's.
        ("HOP_SERVER_TLS_HANDSHAKE_TIMEOUT", "10s"),
    ]);
    // Eight finished handshakes, held open (one at a time: under the handshake cap).
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(tls_from(&dp, ATTACKER, b"http/1.1").await.unwrap());
    }
    // The ninth connection from the same address is closed before any handshake.
    let mut ninth = tcp_from(ATTACKER, dp.https).await.unwrap();
    let started = Instant::now();
    assert!(
        closed_within(&mut ninth, Duration::from_secs(2)).await,
        "the ninth connection was kept"
    );
    // Refused, not timed out.
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(tls_from(&dp, ATTACKER, b"http/1.1").await.is_err());
    assert_eq!(rejected(&dp, "connections_per_ip").await, 2);
    // Another address is served meanwhile.
    let probes = visitor(&dp);
    // A few probes' worth of time.
    tokio::time::sleep(Duration::from_millis(500)).await;
    probes
        .stop()
        .await
        .assert_served_within(Duration::from_secs(1), 3);
    // A held connection still works, and closing one gives its place back.
    let mut first = held.remove(0);
    first
        .write_all(
            format!("GET /echo HTTP/1.1\r\nHost: {DOMAIN}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    first.read_to_end(&mut answer).await.ok();
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    while tls_from(&dp, ATTACKER, b"http/1.1").await.is_err() {
        assert!(
            Instant::now() < deadline,
            "the closed connection's place never came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Silent connections beyond the handshake cap are closed at once too (from an address
    // of their own, so the places above don't count).
    const SILENT: [u8; 4] = [127, 0, 0, 3];
    let mut silent = Vec::new();
    for _ in 0..5 {
        silent.push(tcp_from(SILENT, dp.https).await.unwrap());
    }
    // Exactly one of the five is refused, not timed out (the pod's workers take them up
    // in parallel, so which one is a race).
    let closed = futures_util::future::join_all(
        silent
            .iter_mut()
            .map(|stream| closed_within(stream, Duration::from_secs(2))),
    )
    .await;
    assert_eq!(closed.iter().filter(|c| **c).count(), 1, "{closed:?}");
    assert_eq!(rejected(&dp, "handshakes_per_ip").await, 1);
}

/// Raw HTTP/2 frames: enough of a client to open streams and reset them as an attacker
/// would, and to see what the server answers.
mod h2_frames {
    use super::*;

    pub(crate) const HEADERS: u8 = 0x1;
    pub(crate) const RST_STREAM: u8 = 0x3;
    pub(crate) const SETTINGS: u8 = 0x4;
    pub(crate) const GOAWAY: u8 = 0x7;
    pub(crate) const END_STREAM: u8 = 0x1;
    pub(crate) const END_HEADERS: u8 = 0x4;
    pub(crate) const REFUSED_STREAM: u32 = 0x7;
    pub(crate) const CANCEL: u32 = 0x8;
    pub(crate) const ENHANCE_YOUR_CALM: u32 = 0xb;

    pub(crate) fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// A request's HEADERS (HPACK: static-table names, literal values, no indexing).
    pub(crate) fn request(stream: u32, method_post: bool, end_stream: bool) -> Vec<u8> {
        let mut block = vec![if method_post { 0x83 } else { 0x82 }, 0x87, 0x84, 0x01];
        block.push(DOMAIN.len() as u8);
        block.extend_from_slice(DOMAIN.as_bytes());
        let flags = END_HEADERS | if end_stream { END_STREAM } else { 0 };
        frame(HEADERS, flags, stream, &block)
    }

    pub(crate) fn reset(stream: u32, code: u32) -> Vec<u8> {
        frame(RST_STREAM, 0, stream, &code.to_be_bytes())
    }

    /// Reads one frame: (type, flags, stream, payload); `None` at the end.
    pub(crate) async fn read(io: &mut (impl AsyncRead + Unpin)) -> Option<(u8, u8, u32, Vec<u8>)> {
        let mut head = [0u8; 9];
        io.read_exact(&mut head).await.ok()?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        io.read_exact(&mut payload).await.ok()?;
        Some((head[3], head[4], stream, payload))
    }

    /// Opens HTTP/2 on `tls`: the preface, our SETTINGS, and the ACK of the server's.
    pub(crate) async fn start<S: AsyncRead + AsyncWrite + Unpin>(tls: &mut S) {
        tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .unwrap();
        tls.write_all(&frame(SETTINGS, 0, 0, &[])).await.unwrap();
        loop {
            let (kind, flags, _, _) = read(tls).await.expect("the server's SETTINGS");
            if kind == SETTINGS && flags & 0x1 == 0 {
                break;
            }
        }
        tls.write_all(&frame(SETTINGS, 0x1, 0, &[])).await.unwrap();
    }

    /// An HTTP/2 connection from the attacker's address, started: the half to send frames
    /// on, and what the server sends, counted by a watcher task.
    pub(crate) async fn attacker(
        dp: &DataPlane,
    ) -> (
        tokio::io::WriteHalf<TlsStream<TcpStream>>,
        Arc<Seen>,
        tokio::task::JoinHandle<()>,
    ) {
        let mut tls = tls_from(dp, ATTACKER, b"h2").await.unwrap();
        start(&mut tls).await;
        let (reader, writer) = tokio::io::split(tls);
        let seen = Arc::new(Seen::default());
        let watcher = tokio::spawn(watch(reader, seen.clone()));
        (writer, seen, watcher)
    }

    /// What the server sent on a connection, counted.
    #[derive(Default)]
    pub(crate) struct Seen {
        pub(crate) refused: AtomicUsize,
        pub(crate) goaway: std::sync::Mutex<Option<u32>>,
        pub(crate) closed: AtomicBool,
    }

    /// Reads every frame until the connection ends, counting into `seen`.
    pub(crate) async fn watch(mut io: impl AsyncRead + Unpin, seen: Arc<Seen>) {
        while let Some((kind, _, _, payload)) = read(&mut io).await {
            if kind == RST_STREAM
                && u32::from_be_bytes(payload[..4].try_into().unwrap()) == REFUSED_STREAM
            {
                seen.refused.fetch_add(1, Ordering::Relaxed);
            }
            if kind == GOAWAY {
                let code = u32::from_be_bytes(payload[4..8].try_into().unwrap());
                *seen.goaway.lock().unwrap() = Some(code);
            }
        }
        seen.closed.store(true, Ordering::Relaxed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_http2_connection_gets_no_more_streams_than_the_cap() {
    use h2_frames::*;
    let (dp, _agent) = gateway(&[]);
    let before = ProcStats::of(dp.pid());
    let probes = visitor(&dp);
    let (mut writer, seen, watcher) = attacker(&dp).await;

    // 20,000 uploads that never send their body: each stream stays open.
    const STREAMS: u32 = 20_000;
    for batch in (0..STREAMS).collect::<Vec<_>>().chunks(500) {
        let mut bytes = Vec::new();
        for i in batch {
            bytes.extend_from_slice(&request(2 * i + 1, true, false));
        }
        writer.write_all(&bytes).await.unwrap();
    }
    writer.flush().await.unwrap();
    let expected = (STREAMS - 128) as usize;
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.refused.load(Ordering::Relaxed) < expected && !seen.closed.load(Ordering::Relaxed) {
        assert!(
            Instant::now() < deadline,
            "{} streams refused, expected {expected}",
            seen.refused.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The refused streams' neighbours stay open while another visitor is served (for a
    // while: the time is the point).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let during = ProcStats::of(dp.pid());
    probes
        .stop()
        .await
        .assert_served_within(Duration::from_secs(1), 5);
    assert_eq!(
        seen.refused.load(Ordering::Relaxed),
        expected,
        "refused streams"
    );
    assert_eq!(
        *seen.goaway.lock().unwrap(),
        None,
        "refusing streams is not an error"
    );
    assert!(
        during.rss_kib < before.rss_kib + 64 * 1024,
        "RSS grew from {} KiB to {} KiB",
        before.rss_kib,
        during.rss_kib
    );
    drop(writer);
    watcher.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rapid_reset_flood_ends_with_goaway_while_another_visitor_is_served() {
    use h2_frames::*;
    let (dp, _agent) = gateway(&[]);
    let probes = visitor(&dp);
    let (mut writer, seen, watcher) = attacker(&dp).await;

    // HEADERS + RST_STREAM, over and over, 100 pairs a write, until the server gives up.
    let started = Instant::now();
    let mut stream = 1u32;
    while !seen.closed.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(10) {
        let mut bytes = Vec::new();
        for _ in 0..100 {
            bytes.extend_from_slice(&request(stream, false, true));
            bytes.extend_from_slice(&reset(stream, CANCEL));
            stream += 2;
        }
        if writer.write_all(&bytes).await.is_err() {
            break;
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), watcher).await;
    // The visitor goes on probing a little after the flood.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let probes = probes.stop().await;
    println!(
        "rapid reset: {} streams in {:?}",
        stream / 2,
        started.elapsed()
    );
    assert_eq!(
        *seen.goaway.lock().unwrap(),
        Some(ENHANCE_YOUR_CALM),
        "the server's GOAWAY"
    );
    assert!(
        seen.closed.load(Ordering::Relaxed),
        "the connection was closed"
    );
    probes.assert_served_within(Duration::from_secs(1), 3);
    assert_eq!(rejected(&dp, "h2_abuse").await, 1);
}
