//! Requests in flight and the end of a pod: a drain waits for every request in flight and
//! ends as soon as the last one does (pod run in the test's process, stopped through the
//! library's shutdown), and a visitor who goes away cancels its request at the agent: the
//! stand-in agent sees its stream reset, and behind the real agent the local service sees
//! its request aborted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use common::{InProcess, *};
use hopgate_e2e::Agent;
use hopgate_protocol::{Frame, Hello, Limits, ResponseHead, STREAM_CANCELLED};
use hopgate_transport::{SessionError, TransportConfig};
use hopgate_tunnel::{FrameReader, FrameWriter};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    sync::{Notify, mpsc},
};

const DOMAIN: &str = "flight.hopgate.test";

/// A stand-in agent that answers each request `200 done` once `release` is notified
/// (one waiting request per notification), reporting each request's arrival on `arrived`
/// and how each answer ended on `ended`: sent, or stopped by the gateway.
fn holding_agent(
    session: hopgate_transport::Session,
    release: Arc<Notify>,
    arrived: mpsc::UnboundedSender<()>,
    ended: mpsc::UnboundedSender<Result<(), SessionError>>,
) {
    tokio::spawn(async move {
        while let Ok((send, recv)) = session.accept_stream().await {
            let (release, arrived, ended) = (release.clone(), arrived.clone(), ended.clone());
            tokio::spawn(async move {
                let mut reader = FrameReader::new(recv, Limits::default());
                let mut writer = FrameWriter::new(send, Limits::default());
                let Ok(Some(Frame::RequestHead(_))) = reader.next().await else {
                    return;
                };
                let _ = arrived.send(());
                // The answer's direction is stopped when the gateway lets the request go.
                tokio::select! {
                    stopped = writer.get_mut().stopped() => {
                        let _ = ended.send(stopped);
                        return;
                    }
                    () = release.notified() => {}
                }
                let head = ResponseHead {
                    status: 200,
                    headers: vec![],
                };
                let _ = writer.send(&Frame::ResponseHead(head)).await;
                let _ = writer.send_body(Bytes::from_static(b"done")).await;
                let _ = writer.send(&Frame::EndOfBody(Default::default())).await;
                let _ = writer.get_mut().finish();
                let _ = ended.send(Ok(()));
            });
        }
    });
}

struct Held {
    dp: DataPlane,
    release: Arc<Notify>,
    arrived: mpsc::UnboundedReceiver<()>,
    ended: mpsc::UnboundedReceiver<Result<(), SessionError>>,
    _agent: FakeAgent,
}

async fn held(extra_env: &[(&str, &str)]) -> Held {
    let dp = DataPlane::in_process(&[DOMAIN], extra_env);
    let agent = fake_agent_with(
        &dp,
        Hello::new(DOMAIN, KEY, "test"),
        TransportConfig::default(),
    )
    .await;
    assert!(agent.ack.ok, "{:?}", agent.ack);
    let release = Arc::new(Notify::new());
    let (arrived_tx, arrived) = mpsc::unbounded_channel();
    let (ended_tx, ended) = mpsc::unbounded_channel();
    holding_agent(agent.session.clone(), release.clone(), arrived_tx, ended_tx);
    Held {
        dp,
        release,
        arrived,
        ended,
        _agent: agent,
    }
}

fn url(dp: &DataPlane, path: &str) -> String {
    format!("https://{DOMAIN}:{}{path}", dp.https.port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_waits_for_the_requests_in_flight_and_ends_as_soon_as_they_do() {
    const REQUESTS: usize = 4;
    let mut held = held(&[("HOP_SERVER_DRAIN_TIMEOUT", "30s")]).await;
    let visitor = held.dp.visitor(&[DOMAIN]);
    let pending: Vec<_> = (0..REQUESTS)
        .map(|i| tokio::spawn(visitor.get(url(&held.dp, &format!("/slow/{i}"))).send()))
        .collect();
    for _ in 0..REQUESTS {
        held.arrived.recv().await.unwrap();
    }
    let metrics = held.dp.metrics;

    // The pod is told to stop while every request is held by the agent.
    let dp = held.dp;
    let stopping = tokio::task::spawn_blocking(move || {
        let mut dp = dp;
        dp.kill();
    });
    poll_until("the pod draining", Duration::from_secs(10), || async {
        reqwest::get(format!("http://{metrics}/readyz"))
            .await
            .is_ok_and(|r| r.status() == 503)
    })
    .await;
    assert_eq!(in_flight_at(metrics).await, REQUESTS as u64);
    assert!(
        !stopping.is_finished(),
        "the pod stopped with requests in flight"
    );

    // Every request is answered whole, then the pod ends at once, long before its deadline.
    for _ in 0..REQUESTS {
        held.release.notify_one();
    }
    let released = Instant::now();
    for request in pending {
        let response = request.await.unwrap().unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), "done");
    }
    stopping.await.unwrap();
    let took = released.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "stopped {took:?} after the last request"
    );
}

/// A POST whose body has begun and goes on until the returned sender is dropped.
fn open_upload(
    visitor: &reqwest::Client,
    url: String,
) -> (
    tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>,
    mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    let (chunks, rx) = mpsc::channel(1);
    chunks
        .try_send(Ok(Bytes::from_static(b"first part")))
        .unwrap();
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let request = visitor
        .post(url)
        .body(reqwest::Body::wrap_stream(body))
        .send();
    (tokio::spawn(request), chunks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_going_away_resets_the_stream_at_the_agent() {
    let mut held = held(&[]).await;
    let visitor = held.dp.visitor(&[DOMAIN]);
    let (request, _chunks) = open_upload(&visitor, url(&held.dp, "/upload"));
    held.arrived.recv().await.unwrap();
    assert_eq!(held.dp.metric("hopgate_requests_in_flight").await, 1);

    // The visitor gives up: its connection goes.
    request.abort();
    drop(visitor);
    let ended = tokio::time::timeout(Duration::from_secs(10), held.ended.recv())
        .await
        .expect("the agent's stream was never stopped")
        .unwrap();
    let cancelled = SessionError::StreamReset(u64::from(STREAM_CANCELLED));
    assert_eq!(ended, Err(cancelled));
    poll_until("the request let go", Duration::from_secs(5), || async {
        held.dp.metric("hopgate_requests_in_flight").await == 0
    })
    .await;
    let gone = "hopgate_stream_resets_total{reason=\"visitor_gone\"}";
    assert_eq!(held.dp.metric(gone).await, 1);
}

/// `hopgate_requests_in_flight` from the metrics listener at `metrics`.
async fn in_flight_at(metrics: SocketAddr) -> u64 {
    let text = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("hopgate_requests_in_flight "))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// A local service that reads what it is sent and never answers: it reports on `arrived`
/// when a request's head has come and on `aborted` when the agent's connection closes.
async fn silent_service(
    arrived: mpsc::UnboundedSender<()>,
    aborted: mpsc::UnboundedSender<()>,
) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let (arrived, aborted) = (arrived.clone(), aborted.clone());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                let mut told = false;
                while let Ok(n @ 1..) = tcp.read(&mut buf).await {
                    seen.extend_from_slice(&buf[..n]);
                    if !told && seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        told = true;
                        let _ = arrived.send(());
                    }
                }
                let _ = aborted.send(());
                let _ = tcp.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_going_away_mid_upload_aborts_the_request_at_the_local_service() {
    let dp = DataPlane::in_process(&[DOMAIN], &[]);
    let (arrived_tx, mut arrived) = mpsc::unbounded_channel();
    let (aborted_tx, mut aborted) = mpsc::unbounded_channel();
    let service = silent_service(arrived_tx, aborted_tx).await;
    let agent = Agent::start(&dp, DOMAIN, service);
    agent.wait_connected(Duration::from_secs(10));

    // An upload that has begun and is still going when the visitor leaves.
    let visitor = dp.visitor(&[DOMAIN]);
    let (request, _chunks) = open_upload(&visitor, url(&dp, "/upload"));
    tokio::time::timeout(Duration::from_secs(10), arrived.recv())
        .await
        .expect("the request never reached the local service");

    request.abort();
    drop(visitor);
    tokio::time::timeout(Duration::from_secs(10), aborted.recv())
        .await
        .expect("the local service's request was never aborted");
    poll_until("the request let go", Duration::from_secs(5), || async {
        dp.metric("hopgate_requests_in_flight").await == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_silent_past_the_response_timeout_gives_504_and_its_stream_is_cancelled() {
    let mut held = held(&[("HOP_SERVER_RESPONSE_TIMEOUT", "1s")]).await;
    let started = Instant::now();
    let response = held
        .dp
        .visitor(&[DOMAIN])
        .get(url(&held.dp, "/silent"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 504);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1),
        "504 before the timeout: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "504 after {took:?}");
    let page = response.text().await.unwrap();
    assert!(page.contains("didn't answer within 1s"), "{page}");
    let ended = tokio::time::timeout(Duration::from_secs(5), held.ended.recv())
        .await
        .expect("the agent's stream was never stopped")
        .unwrap();
    let cancelled = SessionError::StreamReset(u64::from(STREAM_CANCELLED));
    assert_eq!(ended, Err(cancelled));
    assert_eq!(held.dp.metric("hopgate_requests_in_flight").await, 0);
}
