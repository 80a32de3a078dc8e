//! `hopgate-abuse-bench`: how much an attack on one domain, or on a listener, costs a
//! well-behaved visitor of another domain. Starts a data-plane pod (debug mode, from
//! `target/release`) serving two domains, `a` and `b`, each through the real agent in front
//! of a small built-in service; measures the p99 latency of a visitor of `b` (a new
//! connection per request) without an attack, then during each attack in turn:
//!
//! - `stalled_uploads`: 1,100 POSTs to `a` from 127.0.0.2 with `Content-Length: 1000000`,
//!   one byte a second;
//! - `handshake_flood`: fake DTLS ClientHellos from 127.0.0.2, each from a new port;
//! - `silent_tcp`: 4,000 TCP connections to the HTTPS listener from 127.0.0.2 that never
//!   send a byte;
//! - `h2_stream_flood`: one HTTP/2 connection from 127.0.0.2 opening streams to `a` as
//!   fast as the pod allows, never reading an answer.
//!
//! Every attack is bounded in count and time and stops by itself; all traffic stays on
//! 127.0.0.0/8. Prints one figure a line (`name value unit`): `abuse.baseline.victim_p99_ms`
//! and, per attack, `abuse.<attack>.victim_p99_ms`, `abuse.<attack>.victim_p99_ratio` (to the
//! baseline) and `abuse.<attack>.victim_failed`.
//!
//! Layout: [`abuse::pod`] starts the processes, [`abuse::service`] is the local service,
//! [`abuse::victim`] measures the visitor, [`abuse::attacks`] holds one module per attack.

mod abuse;

use std::time::Duration;

use abuse::{
    attacks::{self, Attack},
    pod::Gateway,
    victim,
};

/// How long the victim is measured, with and without each attack.
const MEASURE: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let gateway = Gateway::start().await?;
    let baseline = victim::measure(&gateway, MEASURE).await?;
    println!("abuse.baseline.victim_p99_ms {:.2} ms", baseline.p99_ms());
    println!("abuse.baseline.victim_failed {} requests", baseline.failed);
    for attack in attacks::ALL {
        let figures = run(&gateway, attack).await?;
        let name = attack.name();
        println!("abuse.{name}.victim_p99_ms {:.2} ms", figures.p99_ms());
        println!(
            "abuse.{name}.victim_p99_ratio {:.2} x",
            figures.p99_ms() / baseline.p99_ms().max(0.001)
        );
        println!("abuse.{name}.victim_failed {} requests", figures.failed);
        gateway.settle(Duration::from_secs(20)).await;
    }
    Ok(())
}

/// Runs `attack` against the gateway and measures the victim while it holds.
async fn run(gateway: &Gateway, attack: Attack) -> anyhow::Result<victim::Figures> {
    let running = attack.start(gateway).await?;
    let figures = victim::measure(gateway, MEASURE).await;
    let summary = running.stop().await;
    eprintln!("{}: {summary}", attack.name());
    figures
}
