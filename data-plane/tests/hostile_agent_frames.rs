//! An agent that breaks the request stream's rules: data before the answer's head, a
//! second head, data after the end, an oversized frame, bytes that are no frame. The
//! stand-in agent speaks the protocol directly over a real DTLS session to a pod run in
//! the test's process. Before the answer's head the visitor gets the 502 page; after it
//! the answer is cut off. Either way the reason is counted, the session and the pod stay
//! up, and a request on another stream of the same session is answered as usual. And an
//! agent can't open streams of its own beside its control stream.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use common::*;
use hopgate_protocol::{EndOfBody, Frame, Hello, Limits, ResponseHead};
use hopgate_transport::{SendStream, Session};
use hopgate_tunnel::{FrameReader, FrameWriter};
use tokio::{io::AsyncWriteExt, sync::Notify};

const DOMAIN: &str = "hostile.hopgate.test";

fn ok_head() -> Frame {
    Frame::ResponseHead(ResponseHead {
        status: 200,
        headers: vec![],
    })
}

/// Answers each request stream by its path: `/ok` as it should, `/ok-later` once
/// `release` is notified, every other path with the rule it breaks.
fn hostile_agent(session: Session, release: Arc<Notify>) {
    tokio::spawn(async move {
        while let Ok((send, recv)) = session.accept_stream().await {
            let release = release.clone();
            tokio::spawn(async move {
                let mut reader = FrameReader::new(recv, Limits::default());
                let Ok(Some(Frame::RequestHead(head))) = reader.next().await else {
                    return;
                };
                if head.uri == "/ok-later" {
                    release.notified().await;
                }
                answer(&head.uri, send).await;
                // Keep reading until the gateway lets the stream go.
                while let Ok(Some(_)) = reader.next().await {}
            });
        }
    });
}

/// Writes the answer for `path`, all of it in one flush so it arrives together.
async fn answer(path: &str, mut send: SendStream) {
    let mut raw = Vec::new();
    let frames: Vec<Frame> = match path {
        "/data-before-head" => vec![Frame::BodyChunk(Bytes::from_static(b"early"))],
        "/end-before-head" => vec![Frame::EndOfBody(EndOfBody::default())],
        "/second-head" => vec![ok_head(), body("one"), ok_head(), body("two")],
        "/data-after-end" => vec![ok_head(), body("whole"), end(), body("more")],
        "/oversized" => {
            // A head announcing 2 GiB: refused from its header alone.
            raw.extend_from_slice(&[0x04, 0x7f, 0xff, 0xff, 0xff]);
            vec![]
        }
        "/garbage" => {
            raw.extend_from_slice(&[0xee; 64]);
            vec![]
        }
        _ => vec![ok_head(), body("ok"), end()],
    };
    let mut writer = FrameWriter::new(&mut send, Limits::default());
    for frame in &frames {
        writer.queue(frame).unwrap();
    }
    let _ = writer.flush().await;
    let _ = send.write_all(&raw).await;
    let _ = send.finish();
}

fn body(text: &'static str) -> Frame {
    Frame::BodyChunk(Bytes::from_static(text.as_bytes()))
}

fn end() -> Frame {
    Frame::EndOfBody(EndOfBody::default())
}

struct Setup {
    dp: DataPlane,
    visitor: reqwest::Client,
    release: Arc<Notify>,
    agent: FakeAgent,
}

async fn setup() -> Setup {
    let dp = DataPlane::in_process(&[DOMAIN], &[]);
    let agent = fake_agent(&dp, Hello::new(DOMAIN, KEY, "test")).await;
    assert!(agent.ack.ok, "{:?}", agent.ack);
    let release = Arc::new(Notify::new());
    hostile_agent(agent.session.clone(), release.clone());
    let visitor = dp.visitor(&[DOMAIN]);
    Setup {
        dp,
        visitor,
        release,
        agent,
    }
}

impl Setup {
    fn url(&self, path: &str) -> String {
        format!("https://{DOMAIN}:{}{path}", self.dp.https.port())
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.visitor.get(self.url(path)).send().await.unwrap()
    }

    async fn resets(&self, reason: &str) -> u64 {
        let name = format!("hopgate_stream_resets_total{{reason=\"{reason}\"}}");
        self.dp.metric(&name).await
    }

    /// The pod still serves the session: a fresh request is answered whole.
    async fn still_serves(&self) {
        let response = self.get("/ok").await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), "ok");
        assert_eq!(self.dp.metric("hopgate_agent_sessions").await, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_that_break_the_rules_before_the_head_get_the_502_page_and_are_counted() {
    let setup = setup().await;
    // A request on another stream of the same session, in flight all along.
    let bystander = tokio::spawn(setup.visitor.get(setup.url("/ok-later")).send());
    poll_until(
        "the bystander in flight",
        Duration::from_secs(10),
        || async { setup.dp.metric("hopgate_requests_in_flight").await == 1 },
    )
    .await;
    let cases = [
        ("/data-before-head", "agent_violation", "before the head"),
        ("/end-before-head", "agent_violation", "before the head"),
        ("/oversized", "agent_malformed", "invalid answer"),
        ("/garbage", "agent_malformed", "invalid answer"),
    ];
    for (path, reason, says) in cases {
        let before = setup.resets(reason).await;
        let response = setup.get(path).await;
        assert_eq!(response.status(), 502, "{path}");
        let page = response.text().await.unwrap();
        assert!(page.contains("502 Bad Gateway"), "{path}: {page}");
        assert!(page.contains(says), "{path}: {page}");
        assert_eq!(setup.resets(reason).await, before + 1, "{path}");
        setup.still_serves().await;
    }
    setup.release.notify_one();
    let bystander = bystander.await.unwrap().unwrap();
    assert_eq!(bystander.status(), 200);
    assert_eq!(bystander.text().await.unwrap(), "ok");
    assert_eq!(setup.dp.metric("hopgate_requests_in_flight").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_that_break_the_rules_after_the_head_cut_the_answer_and_are_counted() {
    let setup = setup().await;

    // A second head in the body: the answer started, so it is cut off, never completed.
    let response = setup.get("/second-head").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.bytes().await.is_err(),
        "a cut answer ended cleanly"
    );
    assert_eq!(setup.resets("agent_violation").await, 1);
    setup.still_serves().await;

    // Data after the end: the answer was whole; what follows is refused and counted.
    let response = setup.get("/data-after-end").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "whole");
    assert_eq!(setup.resets("agent_violation").await, 2);
    setup.still_serves().await;
    assert_eq!(setup.dp.metric("hopgate_requests_in_flight").await, 0);
}

/// An agent may open its control stream and nothing else: streams the pod would never
/// read can't be opened to fill its buffers, and the session serves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_opens_no_stream_beside_its_control_stream() {
    let setup = setup().await;
    let extra = tokio::time::timeout(
        Duration::from_millis(500),
        setup.agent.session.open_stream(),
    )
    .await;
    assert!(extra.is_err(), "the agent opened a second stream");
    setup.still_serves().await;
}
