//! Answers stream through unbuffered, and a visitor leaving cleans up at once. The pod
//! runs in-process with a stand-in agent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use hopgate_protocol::{Frame, Hello, Limits, ResponseHead};
use hopgate_tunnel::{FrameReader, FrameWriter};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_one_by_one_and_a_leaving_visitor_stops_the_agent() {
    let dp = DataPlane::in_process(&["sse.hopgate.test"], &[]);
    let agent = fake_agent(&dp, Hello::new("sse.hopgate.test", KEY, "test")).await;
    assert!(agent.ack.ok);
    let session = agent.session.clone();
    let (stopped_tx, stopped) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (send, recv) = session.accept_stream().await.unwrap();
        let mut reader = FrameReader::new(recv, Limits::default());
        let mut writer = FrameWriter::new(send, Limits::default());
        let _head = reader.next().await.unwrap();
        let head = ResponseHead {
            status: 200,
            headers: vec![hopgate_protocol::Header::new(
                "content-type",
                Bytes::from_static(b"text/event-stream"),
            )],
        };
        writer.send(&Frame::ResponseHead(head)).await.unwrap();
        // An event every 300 ms until the visitor goes away.
        let mut n = 0;
        let result = loop {
            n += 1;
            if let Err(err) = writer
                .send_body(Bytes::from(format!("data: {n}\n\n")))
                .await
            {
                break err;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        let _ = stopped_tx.send(result.to_string());
    });

    let visitor = dp.visitor(&["sse.hopgate.test"]);
    let started = Instant::now();
    let mut response = visitor
        .get(format!(
            "https://sse.hopgate.test:{}/events",
            dp.https.port()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.unwrap().unwrap();
    assert_eq!(first, "data: 1\n\n");
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "first event after {:?}",
        started.elapsed()
    );
    let second = response.chunk().await.unwrap().unwrap();
    assert_eq!(second, "data: 2\n\n", "events must not be batched");
    assert_eq!(dp.metric("hopgate_requests_in_flight").await, 1);

    drop(response);
    drop(visitor);
    let why = tokio::time::timeout(Duration::from_secs(5), stopped)
        .await
        .expect("agent never told")
        .unwrap();
    assert!(!why.is_empty());
    poll_until(
        "no request left in flight",
        Duration::from_secs(5),
        || async { dp.metric("hopgate_requests_in_flight").await == 0 },
    )
    .await;
}
