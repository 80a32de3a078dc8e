//! gRPC through the gateway: a real gRPC service and client (Python's grpcio, pinned,
//! installed by `scripts/grpcio.sh`) with the real data-plane and agent processes between
//! them. The client speaks HTTP/2 over TLS to the pod; the agent speaks h2c to the service
//! (`--local-protocol auto` picks it for `application/grpc`); `grpc-status`, its message
//! and its details travel back as trailer fields. Also: plain requests to an h2c-only
//! service with their trailers (to HTTP/2 and HTTP/1.1 visitors), a plain HTTP/1.1
//! service under `auto`, and a call relayed between two pods.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use hopgate_e2e::{
    grpc::{GrpcService, grpc_calls},
    h2c_service::H2cService,
    two_pods::TwoPods,
    *,
};
use http_body_util::BodyExt;
use serde_json::{Value, json};

const DOMAIN: &str = "app.hopgate.test";

/// A pod serving [`DOMAIN`] and the agent in front of `local` with `args`, connected.
fn gateway(local: std::net::SocketAddr, args: &[&str]) -> (DataPlane, Agent) {
    let dp = DataPlane::start(&[DOMAIN], &[]);
    let agent = Agent::start_with_args(&dp, DOMAIN, local, args);
    agent.wait_connected(Duration::from_secs(10));
    (dp, agent)
}

/// What a call ended with, as the client saw it.
fn status(outcome: &Value) -> (&str, &str) {
    (
        outcome["code"].as_str().unwrap(),
        outcome["details"].as_str().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_and_streaming_calls_arrive_whole_with_their_status() {
    let service = GrpcService::start();
    let (dp, _agent) = gateway(service.addr, &[]);
    let calls = ["unary", "server_stream", "client_stream", "bidi"];
    let seen = grpc_calls(&dp, DOMAIN, &calls);
    for call in calls {
        assert_eq!(status(&seen[call]), ("OK", ""), "{call}: {seen}");
    }
    assert_eq!(seen["unary"]["replies"], json!(["echo:hello"]));
    // Trailing metadata of the service's own travels with grpc-status.
    assert_eq!(seen["unary"]["trailers"]["x-served-by"], "grpc_echo");
    assert_eq!(
        seen["server_stream"]["replies"],
        json!(["reply 0", "reply 1", "reply 2"])
    );
    assert_eq!(
        seen["client_stream"]["replies"],
        json!(["4 messages, 10 bytes"])
    );
    // Each message went only once the last reply had come back: both ways stream.
    assert_eq!(seen["bidi"]["replies"], json!(["ONE", "TWO", "THREE"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_status_arrives_with_its_message_and_details() {
    let service = GrpcService::start();
    let (dp, _agent) = gateway(service.addr, &[]);
    let seen = grpc_calls(&dp, DOMAIN, &["fail"]);
    let fail = &seen["fail"];
    assert_eq!(
        status(fail),
        ("INVALID_ARGUMENT", "bad argument: ünïcode"),
        "{seen}"
    );
    // Binary details, byte for byte (the client shows them as hex).
    assert_eq!(
        fail["trailers"]["grpc-status-details-bin"],
        "08031200ff0ac3bc"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_ends_the_call_on_time_and_the_next_call_is_served() {
    let service = GrpcService::start();
    let (dp, _agent) = gateway(service.addr, &[]);
    let seen = grpc_calls(&dp, DOMAIN, &["deadline", "unary"]);
    assert_eq!(status(&seen["deadline"]).0, "DEADLINE_EXCEEDED", "{seen}");
    // The client's 0.5 s, not the service's 5 s answer.
    assert!(
        seen["deadline"]["seconds"].as_f64().unwrap() < 3.0,
        "{seen}"
    );
    assert_eq!(status(&seen["unary"]), ("OK", ""), "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_speaks_http1_to_a_plain_service() {
    let local = start_local_service("127.0.0.1:0".parse().unwrap());
    let (dp, _agent) = gateway(local, &[]);
    let response = dp
        .visitor(&[DOMAIN])
        .post(format!("https://{DOMAIN}:{}/echo", dp.https.port()))
        .header("te", "trailers")
        .body("plain")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-body-len"], "5");
    let seen = response.text().await.unwrap();
    // TE stays hop-by-hop towards an HTTP/1.1 service.
    assert!(!seen.contains("te: "), "{seen}");
}

/// GETs `/plain` through `dp` with `visitor`: the body and the trailer fields.
async fn get_with_trailers(dp: &DataPlane, visitor: &reqwest::Client) -> (String, http::HeaderMap) {
    let response = visitor
        .get(format!("https://{DOMAIN}:{}/plain", dp.https.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let collected = http::Response::from(response)
        .into_body()
        .collect()
        .await
        .unwrap();
    let trailers = collected.trailers().cloned().unwrap_or_default();
    let body = String::from_utf8(collected.to_bytes().to_vec()).unwrap();
    (body, trailers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_serves_plain_requests_and_their_trailers_reach_both_http_versions() {
    let service = H2cService::start().await;
    let (dp, _agent) = gateway(service.addr, &["--local-protocol", "h2c"]);
    let over_h2 = dp.visitor(&[DOMAIN]);
    let (body, trailers) = get_with_trailers(&dp, &over_h2).await;
    // The Host the service is shown is the request's authority over HTTP/2.
    let authority = format!("{DOMAIN}:{}", dp.https.port());
    assert_eq!(body, format!("h2c GET /plain authority={authority}"));
    assert_eq!(trailers["x-body-bytes"], "0");

    let over_h1 = reqwest::Client::builder()
        .http1_only()
        .add_root_certificate(reqwest::Certificate::from_pem(&dp.cert_pem).unwrap())
        .resolve(DOMAIN, dp.https)
        .build()
        .unwrap();
    let (body, trailers) = get_with_trailers(&dp, &over_h1).await;
    assert!(body.starts_with("h2c GET /plain"), "{body}");
    // After the last chunk of the chunked body.
    assert_eq!(trailers["x-body-bytes"], "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_relayed_to_the_pod_with_the_session_keeps_its_trailers() {
    const RELAYED: &str = "grpc.gw.hopgate.test";
    let service = GrpcService::start();
    let pods = TwoPods::start_in_front_of(RELAYED, service.addr, &[]).await;
    let seen = grpc_calls(&pods.b, RELAYED, &["unary", "server_stream", "fail"]);
    assert_eq!(status(&seen["unary"]), ("OK", ""), "{seen}");
    assert_eq!(seen["unary"]["trailers"]["x-served-by"], "grpc_echo");
    assert_eq!(
        seen["server_stream"]["replies"].as_array().unwrap().len(),
        3
    );
    assert_eq!(
        status(&seen["fail"]),
        ("INVALID_ARGUMENT", "bad argument: ünïcode"),
        "{seen}"
    );
    assert_eq!(
        seen["fail"]["trailers"]["grpc-status-details-bin"],
        "08031200ff0ac3bc"
    );
    assert!(pods.b.metric("hopgate_relayed_requests_total").await >= 3);
}
