//! Garbage over byte streams: plain TCP, or any other stream a [`Dial`] makes (e.g. TLS,
//! so the garbage reaches the HTTP parser behind it). A [`TcpGarbage`] run opens many short
//! connections of every [`Kind`] (a bounded number at a time), holds silent connections and
//! slowloris trickles meanwhile, and reports every answer it got.

use std::{
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    time::{Duration, Instant},
};

use rand::{Rng, rngs::StdRng};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::TcpStream,
    sync::Semaphore,
    task::JoinSet,
};

use super::{first_line, is_success, rng_for};

/// A byte stream to a listener.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A boxed future, as [`Dial`] returns.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Opens one new connection to the listener under attack.
pub type Dial = Arc<dyn Fn() -> BoxFuture<io::Result<Box<dyn Stream>>> + Send + Sync>;

/// Plain TCP connections to `addr`.
pub fn tcp_dial(addr: SocketAddr) -> Dial {
    Arc::new(move || -> BoxFuture<io::Result<Box<dyn Stream>>> {
        Box::pin(async move {
            let stream = TcpStream::connect(addr).await?;
            Ok(Box::new(stream) as Box<dyn Stream>)
        })
    })
}

/// What one garbage connection sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// 1 byte to 4 KiB of random bytes.
    RandomBytes,
    /// A TLS handshake record header claiming more bytes than follow.
    TruncatedTlsRecord,
    /// The start of an HTTP/1.1 head, cut anywhere, then the write side closed.
    TruncatedHead,
    /// An HTTP/1.1 head of 100–300 KiB of headers.
    OversizedHead,
    /// A partial head, then nothing more while the connection stays open.
    Stalled,
}

const SHORT_KINDS: [Kind; 5] = [
    Kind::RandomBytes,
    Kind::TruncatedTlsRecord,
    Kind::TruncatedHead,
    Kind::OversizedHead,
    Kind::Stalled,
];

/// One attack on one listener.
pub struct TcpGarbage {
    /// Names the listener in messages.
    pub name: String,
    pub dial: Dial,
    /// Short connections, of every [`Kind`] in turn.
    pub connections: usize,
    /// How many short connections are open at once.
    pub concurrency: usize,
    /// Connections that never send a byte, held until the server closes them or `hold`.
    pub silent: usize,
    /// Connections trickling an endless head one byte every 200 ms, for at most `hold`.
    pub slowloris: usize,
    /// How long silent and slowloris connections last at most.
    pub hold: Duration,
    /// How long a short connection waits for the server's answer or close.
    pub answer_wait: Duration,
}

/// What a [`TcpGarbage`] run saw.
#[derive(Debug, Default)]
pub struct TcpReport {
    pub name: String,
    /// Connections opened (short, silent and slowloris).
    pub opened: usize,
    /// Dials that failed (refused, reset, TLS handshake refused).
    pub dial_failures: usize,
    /// The first line of every answer, by kind.
    pub answers: Vec<(String, String)>,
    /// Silent connections the server closed before `hold`.
    pub silent_closed: usize,
    /// Slowloris connections the server ended (closed, reset or answered) before `hold`.
    pub slowloris_cut_off: usize,
    /// Slowloris connections that could be opened at all.
    pub slowloris_opened: usize,
}

impl TcpReport {
    /// Prints what happened, then asserts the listener withstood it: no garbage got a
    /// success and every slowloris was cut off.
    pub fn assert_withstood(&self) {
        eprintln!(
            "{}: {} connections, {} dial failures, {} answers, {}/{} slowloris cut off, {} silent closed",
            self.name,
            self.opened,
            self.dial_failures,
            self.answers.len(),
            self.slowloris_cut_off,
            self.slowloris_opened,
            self.silent_closed
        );
        self.assert_refused();
        self.assert_slowloris_cut_off();
    }

    /// Asserts no garbage got a success (2xx) answer.
    pub fn assert_refused(&self) {
        let successes: Vec<_> = self
            .answers
            .iter()
            .filter(|(_, line)| is_success(line.as_bytes()))
            .collect();
        assert!(
            successes.is_empty(),
            "{}: garbage was answered with success: {successes:?}",
            self.name
        );
    }

    /// Asserts the server ended every slowloris that it let in before it finished.
    pub fn assert_slowloris_cut_off(&self) {
        assert_eq!(
            self.slowloris_cut_off, self.slowloris_opened,
            "{}: the server let a slowloris trickle for the whole hold",
            self.name
        );
    }
}

enum Outcome {
    DialFailed,
    Answered(Kind, Vec<u8>),
    Silent { closed_by_server: bool },
    Slowloris { cut_off: bool },
}

impl TcpGarbage {
    /// A run against `dial` with moderate defaults: 200 short connections (32 at a time),
    /// 50 silent, 10 slowloris, held up to 9 s.
    pub fn new(name: &str, dial: Dial) -> Self {
        Self {
            name: name.to_owned(),
            dial,
            connections: 200,
            concurrency: 32,
            silent: 50,
            slowloris: 10,
            hold: Duration::from_secs(9),
            answer_wait: Duration::from_secs(2),
        }
    }

    /// Runs the attack; returns when every connection is closed.
    pub async fn run(self, seed: u64) -> TcpReport {
        let mut tasks = JoinSet::new();
        let hold = self.hold;
        for _ in 0..self.silent {
            let dial = self.dial.clone();
            tasks.spawn(async move { silent(dial, hold).await });
        }
        for i in 0..self.slowloris {
            let dial = self.dial.clone();
            let rng = rng_for(seed, 1_000_000 + i as u64);
            tasks.spawn(async move { slowloris(dial, rng, hold).await });
        }
        let permits = Arc::new(Semaphore::new(self.concurrency.max(1)));
        for i in 0..self.connections {
            let dial = self.dial.clone();
            let rng = rng_for(seed, i as u64);
            let kind = SHORT_KINDS[i % SHORT_KINDS.len()];
            let wait = self.answer_wait;
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            tasks.spawn(async move {
                let outcome = short(dial, rng, kind, wait).await;
                drop(permit);
                outcome
            });
        }
        let mut report = TcpReport {
            name: self.name,
            ..TcpReport::default()
        };
        while let Some(outcome) = tasks.join_next().await {
            report.count(outcome.expect("a garbage task panicked"));
        }
        report
    }
}

impl TcpReport {
    fn count(&mut self, outcome: Outcome) {
        if matches!(outcome, Outcome::DialFailed) {
            self.dial_failures += 1;
            return;
        }
        self.opened += 1;
        match outcome {
            Outcome::DialFailed => {}
            Outcome::Answered(kind, answer) => {
                if !answer.is_empty() {
                    self.answers
                        .push((format!("{kind:?}"), first_line(&answer)));
                }
            }
            Outcome::Silent { closed_by_server } => {
                self.silent_closed += usize::from(closed_by_server);
            }
            Outcome::Slowloris { cut_off } => {
                self.slowloris_opened += 1;
                self.slowloris_cut_off += usize::from(cut_off);
            }
        }
    }
}

/// One short garbage connection of `kind`; the server's answer, if any.
async fn short(dial: Dial, mut rng: StdRng, kind: Kind, wait: Duration) -> Outcome {
    let Ok(mut stream) = dial().await else {
        return Outcome::DialFailed;
    };
    let payload = payload(&mut rng, kind);
    // The server may close early (e.g. on an oversized head): a failed write is fine.
    let _ = stream.write_all(&payload).await;
    let _ = stream.flush().await;
    if kind == Kind::TruncatedHead || (kind == Kind::RandomBytes && rng.random()) {
        let _ = stream.shutdown().await;
    }
    Outcome::Answered(kind, read_answer(&mut stream, wait).await)
}

/// The bytes a short connection of `kind` sends.
fn payload(rng: &mut StdRng, kind: Kind) -> Vec<u8> {
    match kind {
        Kind::RandomBytes => random_bytes(rng, 1..=4096),
        Kind::TruncatedTlsRecord => {
            let claimed: u16 = rng.random_range(64..=16_384);
            let mut record = vec![22, 3, rng.random_range(0..=3)];
            record.extend_from_slice(&claimed.to_be_bytes());
            // A ClientHello header, then less than the record claims.
            record.push(1);
            record.extend(random_bytes(rng, 0..=usize::from(claimed) - 2));
            record
        }
        Kind::TruncatedHead | Kind::Stalled => {
            let head = partial_head(rng);
            let cut = rng.random_range(1..=head.len());
            head[..cut].to_vec()
        }
        Kind::OversizedHead => oversized_head(rng),
    }
}

fn random_bytes(rng: &mut StdRng, len: std::ops::RangeInclusive<usize>) -> Vec<u8> {
    let mut bytes = vec![0u8; rng.random_range(len)];
    rng.fill(&mut bytes[..]);
    bytes
}

/// An HTTP/1.1 head without its final empty line.
fn partial_head(rng: &mut StdRng) -> Vec<u8> {
    const METHODS: [&str; 5] = ["GET", "POST", "PUT", "OPTIONS", "DELETE"];
    let method = METHODS[rng.random_range(0..METHODS.len())];
    let path = token(rng, 1..=40);
    let host = token(rng, 1..=30);
    let name = token(rng, 1..=20);
    let value = token(rng, 0..=200);
    format!("{method} /{path} HTTP/1.1\r\nHost: {host}.test\r\nX-{name}: {value}").into_bytes()
}

/// A complete HTTP/1.1 head far over any sane header limit.
fn oversized_head(rng: &mut StdRng) -> Vec<u8> {
    let mut head = b"GET / HTTP/1.1\r\nHost: big.test\r\n".to_vec();
    let lines = rng.random_range(100..=300);
    let padding = "a".repeat(1_000);
    for i in 0..lines {
        head.extend_from_slice(format!("X-Pad-{i}: {padding}\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// Random letters and digits.
fn token(rng: &mut StdRng, len: std::ops::RangeInclusive<usize>) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let len = rng.random_range(len);
    (0..len)
        .map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())]))
        .collect()
}

/// Reads until the server closes, 64 KiB arrived, or `wait` passes.
async fn read_answer(stream: &mut Box<dyn Stream>, wait: Duration) -> Vec<u8> {
    let mut answer = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    let mut buf = [0u8; 8192];
    while answer.len() < 64 * 1024 {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => answer.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    answer
}

/// A connection that sends nothing; whether the server closed it before `hold`.
async fn silent(dial: Dial, hold: Duration) -> Outcome {
    let Ok(mut stream) = dial().await else {
        return Outcome::DialFailed;
    };
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(hold, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    Outcome::Silent {
        closed_by_server: closed.is_ok(),
    }
}

/// Trickles an endless head one byte every 200 ms; whether the server ended it before
/// `hold` (closed, reset, or answered).
async fn slowloris(dial: Dial, mut rng: StdRng, hold: Duration) -> Outcome {
    let Ok(stream) = dial().await else {
        return Outcome::DialFailed;
    };
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut head = partial_head(&mut rng);
    head.extend_from_slice(b"\r\n");
    let started = Instant::now();
    let mut sent = 0usize;
    let mut buf = [0u8; 1024];
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    while started.elapsed() < hold {
        tokio::select! {
            read = reader.read(&mut buf) => {
                // An answer (408) or a close: either way the server ended it.
                let _ = read;
                return Outcome::Slowloris { cut_off: true };
            }
            _ = tick.tick() => {
                if sent == head.len() {
                    // Keep the head going forever: one more header line.
                    head.extend_from_slice(format!("X-{}: {}\r\n", token(&mut rng, 1..=8), token(&mut rng, 1..=8)).as_bytes());
                }
                if writer.write_all(&head[sent..=sent]).await.is_err() {
                    return Outcome::Slowloris { cut_off: true };
                }
                sent += 1;
            }
        }
    }
    Outcome::Slowloris { cut_off: false }
}
