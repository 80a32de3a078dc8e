//! `hopgate-load-bench`: a fixed number of HTTPS requests in two phases, with a command
//! run between them, so that a profiler can count exactly the second phase's requests:
//! `CONNECTIONS` tasks each send GETs to `URL` (HTTP/1.1, the `Host` header `HOST`), one at
//! a time, `WARM_UP` requests in all, then `BEFORE` runs (`sh -c`), then `REQUESTS` more,
//! then `AFTER` runs, before any connection closes. The URL's host name is resolved to
//! `IP` and the server's certificate is checked against `CA_PEM` (the benchmark's own
//! self-signed certificates). With `--close` every request asks for `Connection: close` (a
//! new TCP connection and TLS handshake each, resuming the TLS session where the server
//! allows it, as wrk does).
//!
//! Prints `load.requests N` and `load.failed N` (answers other than 200 with the whole body,
//! and errors) of the second phase; exits non-zero if any failed.
//!
//! Usage: `hopgate-load-bench [--close] URL IP CA_PEM HOST CONNECTIONS WARM_UP REQUESTS BEFORE
//! AFTER`

use std::{
    net::{IpAddr, SocketAddr},
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use anyhow::{Context, bail};

/// A request without a whole answer after this long fails (profilers slow servers down).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

struct Args {
    close: bool,
    url: String,
    ip: IpAddr,
    ca_pem: String,
    host: String,
    connections: usize,
    warm_up: usize,
    requests: usize,
    before: String,
    after: String,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let close = args.first().is_some_and(|a| a == "--close");
    if close {
        args.remove(0);
    }
    let [
        url,
        ip,
        ca_pem,
        host,
        connections,
        warm_up,
        requests,
        before,
        after,
    ] = <[String; 9]>::try_from(args).map_err(|_| {
        anyhow::anyhow!(
            "usage: hopgate-load-bench [--close] URL IP CA_PEM HOST CONNECTIONS WARM_UP \
                 REQUESTS BEFORE AFTER"
        )
    })?;
    Ok(Args {
        close,
        url,
        ip: ip.parse().context("IP")?,
        ca_pem,
        host,
        connections: connections.parse().context("CONNECTIONS")?,
        warm_up: warm_up.parse().context("WARM_UP")?,
        requests: requests.parse().context("REQUESTS")?,
        before,
        after,
    })
}

/// Sends `total` requests from `args.connections` tasks sharing `client`'s pool; the
/// number that failed.
async fn phase(client: &reqwest::Client, args: &Arc<Args>, total: usize) -> usize {
    let left = Arc::new(AtomicUsize::new(total));
    let failed = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..args.connections)
        .map(|_| {
            let (client, args) = (client.clone(), args.clone());
            let (left, failed) = (left.clone(), failed.clone());
            tokio::spawn(async move {
                while left
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok()
                {
                    if !request(&client, &args).await {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    failed.load(Ordering::Relaxed)
}

async fn request(client: &reqwest::Client, args: &Args) -> bool {
    let mut request = client
        .get(&args.url)
        .header(reqwest::header::HOST, &args.host)
        .timeout(REQUEST_TIMEOUT);
    if args.close {
        request = request.header(reqwest::header::CONNECTION, "close");
    }
    match request.send().await {
        Ok(response) if response.status() == 200 => response.bytes().await.is_ok(),
        Ok(_) | Err(_) => false,
    }
}

/// HTTP/1.1, the URL's name resolved to `args.ip`, `args.ca_pem` the one trusted root.
fn client(args: &Args) -> anyhow::Result<reqwest::Client> {
    let ca = std::fs::read(&args.ca_pem).with_context(|| format!("reading {}", args.ca_pem))?;
    let url = reqwest::Url::parse(&args.url).context("URL")?;
    let name = url.host_str().context("URL without a host")?;
    Ok(reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca)?)
        // The port is the URL's; only the address is taken from here.
        .resolve(name, SocketAddr::new(args.ip, 0))
        .http1_only()
        .pool_max_idle_per_host(args.connections)
        .build()?)
}

fn run(command: &str) -> anyhow::Result<()> {
    let status = Command::new("sh").arg("-c").arg(command).status()?;
    if !status.success() {
        bail!("`{command}` failed: {status}");
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Arc::new(parse_args()?);
    let client = client(&args)?;
    let warm_up_failed = phase(&client, &args, args.warm_up).await;
    if warm_up_failed > 0 {
        bail!("{warm_up_failed} of the warm-up's requests failed");
    }
    run(&args.before)?;
    let failed = phase(&client, &args, args.requests).await;
    run(&args.after)?;
    println!("load.requests {} requests", args.requests);
    println!("load.failed {failed} requests");
    if failed > 0 {
        bail!("{failed} of {} requests failed", args.requests);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpListener,
    };

    use super::*;

    /// An HTTP/1.1 service answering every request with `status`; the requests it saw.
    async fn service(status: u16) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/100b", listener.local_addr().unwrap());
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = seen.clone();
        tokio::spawn(async move {
            loop {
                let (mut tcp, _) = listener.accept().await.unwrap();
                let counter = counter.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while tcp.read(&mut byte).await.unwrap_or(0) == 1 {
                        head.push(byte[0]);
                        if head.ends_with(b"\r\n\r\n") {
                            counter.fetch_add(1, Ordering::Relaxed);
                            let answer =
                                format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\n\r\nok");
                            tcp.write_all(answer.as_bytes()).await.unwrap();
                            head.clear();
                        }
                    }
                });
            }
        });
        (url, seen)
    }

    fn args(url: String, connections: usize) -> Arc<Args> {
        Arc::new(Args {
            close: false,
            url,
            ip: IpAddr::from([127, 0, 0, 1]),
            ca_pem: String::new(),
            host: "app.test".into(),
            connections,
            warm_up: 0,
            requests: 0,
            before: String::new(),
            after: String::new(),
        })
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_phase_sends_exactly_its_requests_over_all_connections() {
        let (url, seen) = service(200).await;
        let client = reqwest::Client::new();
        for (connections, total) in [(3, 10), (4, 1), (2, 0)] {
            let before = seen.load(Ordering::Relaxed);
            let failed = phase(&client, &args(url.clone(), connections), total).await;
            assert_eq!(failed, 0);
            assert_eq!(seen.load(Ordering::Relaxed) - before, total);
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn answers_other_than_200_count_as_failed() {
        let (url, seen) = service(503).await;
        let client = reqwest::Client::new();
        assert_eq!(phase(&client, &args(url, 2), 5).await, 5);
        assert_eq!(seen.load(Ordering::Relaxed), 5);
    }
}
