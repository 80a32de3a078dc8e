//! The attacks, one module each. Every attack runs in its own task, says when it holds
//! (so the victim is measured under it), stops when told or after [`MAX_DURATION`] by
//! itself, and bounds how much it sends; all of it goes to 127.0.0.0/8.

mod h2_stream_flood;
mod handshake_flood;
mod silent_tcp;
mod stalled_uploads;

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::{sync::oneshot, task::JoinHandle};

use super::pod::Gateway;

/// Where the attacks come from; the victim visits from 127.0.0.1.
pub(crate) const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
/// No attack lasts longer than this, told to stop or not.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(40);
/// How long an attack may take to build up before the victim is measured anyway.
const BUILD_UP: Duration = Duration::from_secs(20);

#[derive(Clone, Copy)]
pub(crate) enum Attack {
    StalledUploads,
    HandshakeFlood,
    SilentTcp,
    H2StreamFlood,
}

pub(crate) const ALL: [Attack; 4] = [
    Attack::StalledUploads,
    Attack::HandshakeFlood,
    Attack::SilentTcp,
    Attack::H2StreamFlood,
];

/// Tells an attack when to stop: when [`Running::stop`] is called or its time is up.
#[derive(Clone)]
pub(crate) struct Stop {
    flag: Arc<AtomicBool>,
    deadline: Instant,
}

impl Stop {
    pub(crate) fn now(&self) -> bool {
        self.flag.load(Ordering::Relaxed) || Instant::now() >= self.deadline
    }

    /// Resolves once [`Stop::now`] holds (checked every 50 ms).
    pub(crate) async fn wait(&self) {
        while !self.now() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// What an attack holds; `ready` is sent once it is at full strength.
pub(crate) struct Context {
    pub(crate) https: std::net::SocketAddr,
    pub(crate) dtls: std::net::SocketAddr,
    pub(crate) cert_pem: Vec<u8>,
    pub(crate) stop: Stop,
    pub(crate) ready: oneshot::Sender<()>,
}

/// An attack in progress.
pub(crate) struct Running {
    flag: Arc<AtomicBool>,
    task: JoinHandle<anyhow::Result<String>>,
}

impl Running {
    /// Stops the attack; what it did, in a few words.
    pub(crate) async fn stop(self) -> String {
        self.flag.store(true, Ordering::Relaxed);
        match self.task.await {
            Ok(Ok(summary)) => summary,
            Ok(Err(error)) => format!("failed: {error:#}"),
            Err(error) => format!("panicked: {error}"),
        }
    }
}

impl Attack {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::StalledUploads => "stalled_uploads",
            Self::HandshakeFlood => "handshake_flood",
            Self::SilentTcp => "silent_tcp",
            Self::H2StreamFlood => "h2_stream_flood",
        }
    }

    /// Starts the attack and returns once it holds (or after [`BUILD_UP`]).
    pub(crate) async fn start(self, gateway: &Gateway) -> anyhow::Result<Running> {
        let flag = Arc::new(AtomicBool::new(false));
        let (ready, built_up) = oneshot::channel();
        let context = Context {
            https: gateway.https,
            dtls: gateway.dtls,
            cert_pem: gateway.cert_pem.clone(),
            stop: Stop {
                flag: flag.clone(),
                deadline: Instant::now() + MAX_DURATION,
            },
            ready,
        };
        let task = match self {
            Self::StalledUploads => tokio::spawn(stalled_uploads::run(context)),
            Self::HandshakeFlood => tokio::spawn(handshake_flood::run(context)),
            Self::SilentTcp => tokio::spawn(silent_tcp::run(context)),
            Self::H2StreamFlood => tokio::spawn(h2_stream_flood::run(context)),
        };
        if tokio::time::timeout(BUILD_UP, built_up).await.is_err() {
            eprintln!("{}: still building up after {BUILD_UP:?}", self.name());
        }
        Ok(Running { flag, task })
    }
}
