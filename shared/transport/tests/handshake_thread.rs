//! A listener's DTLS handshakes run on its own handshake thread, at a lower priority than
//! the threads that carry established sessions, and the thread goes with the listener.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use hopgate_transport::TransportConfig;

const THREAD_NAME: &str = "dtls-handshakes";

/// The nice values of this process's threads named `name`, from /proc.
fn nice_of_threads_named(name: &str) -> Vec<i64> {
    let mut nice = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let path = task.unwrap().path();
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else {
            continue; // the thread ended meanwhile
        };
        if comm.trim_end() != name {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
            continue;
        };
        // After the command in parentheses: state is field 3, nice field 19.
        let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
        let field: i64 = after_comm.split(' ').nth(16).unwrap().parse().unwrap();
        nice.push(field);
    }
    nice
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_run_on_a_low_priority_thread_that_ends_with_the_listener() {
    let identity = identity();
    assert!(nice_of_threads_named(THREAD_NAME).is_empty());
    let listener = bind_listener(&identity, TransportConfig::default());
    let addr = listener.local_addr();

    let config = client_config(&identity, TransportConfig::default());
    let session = connect(addr, &config).await;
    assert_eq!(
        nice_of_threads_named(THREAD_NAME),
        vec![10],
        "one handshake thread, below the default priority"
    );
    let stats = listener.stats();
    assert_eq!(stats.dtls_handshake_steps_queued, 0);
    assert_eq!(stats.dtls_handshaking, 0);

    session.close("done");
    listener.close("test over");
    drop(listener);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !nice_of_threads_named(THREAD_NAME).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the handshake thread outlived its listener"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
