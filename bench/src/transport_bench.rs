//! Transport benchmark: one figure a line, `name value unit`, for `bench/transport.sh`.
//!
//! Everything runs on loopback in this process: a gateway-side [`Listener`] and agent-side
//! sessions, through the lossy relay where a figure says so, plus a plain UDP blast and a
//! TCP stream as baselines measured in the same run; and the same sessions over the TCP
//! fallback (TLS over loopback TCP) at several packet sizes (`transport_tcp`).

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use hopgate_lossy_relay::{Impairment, RelayConfig};
use hopgate_transport::{
    ClientConfig, Identity, Listener, ServerConfig, ServerVerification, Session,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod transport_tcp;

const MIB: u64 = 1024 * 1024;

fn main() -> Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run(quick))
}

fn report(name: &str, value: f64, unit: &str) {
    println!("{name} {value:.1} {unit}");
}

async fn run(quick: bool) -> Result<()> {
    let scale = if quick { 16 } else { 1 };
    let identity = Identity::self_signed(&["gw.bench.test".into()])?;
    let listener = Arc::new(Listener::bind(
        std::net::UdpSocket::bind("127.0.0.1:0")?,
        ServerConfig::new(identity.clone()),
    )?);
    tokio::spawn(serve(listener.clone()));
    let client = ClientConfig::new(
        "gw.bench.test",
        ServerVerification::Pinned(identity.fingerprint()),
    );
    let addr = listener.local_addr();

    report(
        "baseline.udp_MBps",
        udp_blast(512 * MIB / scale).await?,
        "MB/s",
    );
    report(
        "baseline.tcp_MBps",
        tcp_stream(1024 * MIB / scale).await?,
        "MB/s",
    );

    let session = hopgate_transport::connect(addr, &client).await?;
    let (rate, _) = upload(&session, 1024 * MIB / scale).await?;
    report("transport.one_stream_MBps", rate, "MB/s");
    report(
        "transport.parallel16_MBps",
        parallel(&session, 16, 64 * MIB / scale).await?,
        "MB/s",
    );
    let (p50, p99) = round_trips(&session, 1000).await?;
    report("transport.rtt_p50_us", p50, "us");
    report("transport.rtt_p99_us", p99, "us");
    session.close("done");

    let mut setups = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let session = hopgate_transport::connect(addr, &client).await?;
        setups.push(started.elapsed().as_secs_f64() * 1000.0);
        session.close("done");
    }
    setups.sort_by(f64::total_cmp);
    report("transport.setup_ms", setups[setups.len() / 2], "ms");

    // The TCP fallback, by QUIC packet size (1,313 bytes is the DTLS path's).
    for packet in [1313, 16 * 1024, 65_527] {
        let (rate, p50) =
            transport_tcp::figures(&identity, &client, packet, 1024 * MIB / scale).await?;
        report(
            &format!("transport_tcp.p{packet}.one_stream_MBps"),
            rate,
            "MB/s",
        );
        report(&format!("transport_tcp.p{packet}.rtt_p50_us"), p50, "us");
    }

    let lossy = |drop: f64, reorder: f64, delay_ms: u64| Impairment {
        drop,
        duplicate: 0.01,
        reorder,
        delay: Duration::from_millis(delay_ms),
        ..Impairment::default()
    };
    let (rate, stall) =
        through_relay(addr, &client, lossy(0.01, 0.05, 0), 200 * MIB / scale).await?;
    report("transport.loss1_MBps", rate, "MB/s");
    report("transport.loss1_max_stall_ms", stall, "ms");
    let (rate, _) = through_relay(addr, &client, lossy(0.05, 0.0, 0), 100 * MIB / scale).await?;
    report("transport.loss5_MBps", rate, "MB/s");
    let (rate, _) = through_relay(addr, &client, lossy(0.01, 0.0, 10), 100 * MIB / scale).await?;
    report("transport.loss1_rtt20_MBps", rate, "MB/s");
    Ok(())
}

/// Gateway side: 'S' = sink (read to EOF, answer byte count and longest stall),
/// 'E' = echo 100 bytes.
async fn serve(listener: Arc<Listener>) {
    while let Some(session) = listener.accept().await {
        // No hello in this benchmark: every session is trusted.
        session.lift_pre_hello_limits();
        tokio::spawn(async move {
            while let Ok((mut send, mut recv)) = session.accept_stream().await {
                tokio::spawn(async move {
                    match recv.read_u8().await? {
                        b'S' => {
                            let mut buf = vec![0u8; 256 * 1024];
                            let mut total = 0u64;
                            let mut last = None::<Instant>;
                            let mut stall = Duration::ZERO;
                            loop {
                                let n = recv.read(&mut buf).await?;
                                if n == 0 {
                                    break;
                                }
                                let now = Instant::now();
                                if let Some(last) = last {
                                    stall = stall.max(now - last);
                                }
                                last = Some(now);
                                total += n as u64;
                            }
                            send.write_u64(total).await?;
                            send.write_u64(stall.as_micros() as u64).await?;
                        }
                        _ => {
                            let mut request = [0u8; 100];
                            recv.read_exact(&mut request).await?;
                            send.write_all(&request).await?;
                        }
                    }
                    send.finish().ok();
                    let _ = send.stopped().await;
                    std::io::Result::Ok(())
                });
            }
        });
    }
}

/// Sends `bytes` on one stream; returns MB/s and the longest delivery stall in ms.
async fn upload(session: &Session, bytes: u64) -> Result<(f64, f64)> {
    let (mut send, mut recv) = session.open_stream().await?;
    let block = vec![0x5au8; 256 * 1024];
    let started = Instant::now();
    send.write_u8(b'S').await?;
    let mut left = bytes;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        send.write_all(&block[..n]).await?;
        left -= n as u64;
    }
    send.finish()?;
    let received = recv.read_u64().await?;
    let stall_us = recv.read_u64().await?;
    let elapsed = started.elapsed().as_secs_f64();
    if received != bytes {
        bail!("sink received {received} of {bytes} bytes");
    }
    Ok((bytes as f64 / elapsed / 1e6, stall_us as f64 / 1000.0))
}

async fn parallel(session: &Session, streams: usize, each: u64) -> Result<f64> {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..streams {
        let session = session.clone();
        tasks.spawn(async move { upload(&session, each).await });
    }
    while let Some(result) = tasks.join_next().await {
        result??;
    }
    Ok((streams as u64 * each) as f64 / started.elapsed().as_secs_f64() / 1e6)
}

async fn round_trips(session: &Session, count: usize) -> Result<(f64, f64)> {
    let mut samples = Vec::with_capacity(count);
    let request = [0x42u8; 100];
    for _ in 0..count {
        let started = Instant::now();
        let (mut send, mut recv) = session.open_stream().await?;
        send.write_u8(b'E').await?;
        send.write_all(&request).await?;
        let mut answer = [0u8; 100];
        recv.read_exact(&mut answer).await?;
        samples.push(started.elapsed().as_secs_f64() * 1e6);
        send.finish().ok();
    }
    samples.sort_by(f64::total_cmp);
    Ok((samples[count / 2], samples[count * 99 / 100]))
}

async fn through_relay(
    server: SocketAddr,
    client: &ClientConfig,
    link: Impairment,
    bytes: u64,
) -> Result<(f64, f64)> {
    let relay = hopgate_lossy_relay::start(RelayConfig::symmetric(server, link, 7)).await?;
    let session = hopgate_transport::connect(relay.local_addr(), client).await?;
    let result = tokio::time::timeout(Duration::from_secs(120), upload(&session, bytes))
        .await
        .context("lossy transfer took over 120 s")?;
    session.close("done");
    result
}

/// Baseline: 1,200-byte datagrams as fast as one sender can go; what arrives counts.
async fn udp_blast(bytes: u64) -> Result<f64> {
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0")?;
    let _ = socket2::SockRef::from(&receiver).set_recv_buffer_size(8 * 1024 * 1024);
    receiver.set_read_timeout(Some(Duration::from_millis(200)))?;
    let target = receiver.local_addr()?;
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let mut total = 0u64;
        let mut first = None;
        let mut last = Instant::now();
        while let Ok(n) = receiver.recv(&mut buf) {
            first.get_or_insert_with(Instant::now);
            last = Instant::now();
            total += n as u64;
        }
        (total, first.map(|f| last - f).unwrap_or_default())
    });
    let sender = std::net::UdpSocket::bind("127.0.0.1:0")?;
    let datagram = [0u8; 1200];
    let count = bytes / 1200;
    tokio::task::spawn_blocking(move || {
        for _ in 0..count {
            let _ = sender.send_to(&datagram, target);
        }
    })
    .await?;
    let (total, elapsed) = reader
        .join()
        .map_err(|_| anyhow::anyhow!("reader panicked"))?;
    Ok(total as f64 / elapsed.as_secs_f64().max(1e-6) / 1e6)
}

/// Baseline: one TCP stream over loopback.
async fn tcp_stream(bytes: u64) -> Result<f64> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let sink = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await?;
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        stream.write_u64(total).await?;
        std::io::Result::Ok(())
    });
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let block = vec![0u8; 256 * 1024];
    let started = Instant::now();
    let mut left = bytes;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        stream.write_all(&block[..n]).await?;
        left -= n as u64;
    }
    stream.shutdown().await?;
    let received = stream.read_u64().await?;
    let elapsed = started.elapsed().as_secs_f64();
    sink.await??;
    if received != bytes {
        bail!("TCP sink received {received} of {bytes}");
    }
    Ok(bytes as f64 / elapsed / 1e6)
}
