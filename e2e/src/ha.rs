//! High availability at the edge set up for a test: several pods behind a load balancer
//! that sends new agent flows (new source ports) only to ready pods in turn, and visitors
//! whose GETs go only to ready pods, as a load balancer watching `/readyz` would send
//! them.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::task::JoinHandle;

use crate::{DataPlane, forwarder::Forwarder};

/// Which pods answer `/readyz` with 200, polled.
pub struct Ready {
    /// Each pod's metrics address and DTLS address, and whether it was ready last time.
    pods: Vec<(SocketAddr, SocketAddr, AtomicBool)>,
}

impl Ready {
    /// Every pod of `pods`, taken as ready until polled.
    pub fn of(pods: &[&DataPlane]) -> Arc<Self> {
        Arc::new(Self {
            pods: pods
                .iter()
                .map(|dp| (dp.metrics, dp.dtls, AtomicBool::new(true)))
                .collect(),
        })
    }

    pub async fn poll(&self) {
        let client = reqwest::Client::new();
        for (metrics, _, ready) in &self.pods {
            let ok = client
                .get(format!("http://{metrics}/readyz"))
                .timeout(Duration::from_millis(300))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            ready.store(ok, Ordering::SeqCst);
        }
    }

    pub fn is_ready(&self, pod: usize) -> bool {
        self.pods[pod].2.load(Ordering::SeqCst)
    }

    /// Takes pod `pod` out at once (a load balancer that saw its process die).
    pub fn mark_down(&self, pod: usize) {
        self.pods[pod].2.store(false, Ordering::SeqCst);
    }

    /// The DTLS addresses of the ready pods among `allowed`.
    fn ready_dtls(&self, allowed: &[usize]) -> Vec<SocketAddr> {
        allowed
            .iter()
            .filter(|i| self.is_ready(**i))
            .map(|i| self.pods[*i].1)
            .collect()
    }
}

/// kube-proxy: polls readiness until `stop`; new agent flows go, in turn, to the ready
/// pods among `agent_pods` (indexes into `ready`).
pub fn spawn_kube_proxy(
    ready: Arc<Ready>,
    service: Arc<Forwarder>,
    agent_pods: Arc<Mutex<Vec<usize>>>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::SeqCst) {
            ready.poll().await;
            let allowed = agent_pods.lock().unwrap().clone();
            service.set_targets(ready.ready_dtls(&allowed));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}

/// Visitors' GETs and what became of them.
#[derive(Default)]
pub struct Load {
    /// Requests answered right, per pod.
    pub ok: Vec<AtomicUsize>,
    pub failures: Mutex<Vec<String>>,
}

impl Load {
    pub fn new(pods: usize) -> Arc<Self> {
        Arc::new(Self {
            ok: (0..pods).map(|_| AtomicUsize::new(0)).collect(),
            failures: Mutex::default(),
        })
    }

    /// A GET of `path` on `domain` every `every` until `stop`, each to the next ready pod
    /// among `visited` (clients[i] resolves the domain to pod i at `ports[i]`); 200 with
    /// the body `expect` counts as right.
    #[allow(clippy::too_many_arguments)]
    pub fn spawn(
        self: &Arc<Self>,
        clients: Vec<reqwest::Client>,
        ports: Vec<u16>,
        visited: Vec<usize>,
        ready: Arc<Ready>,
        domain: &'static str,
        every: Duration,
        stop: Arc<AtomicBool>,
    ) -> JoinHandle<()> {
        let load = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            let mut sent = Vec::new();
            let mut turn = 0usize;
            while !stop.load(Ordering::SeqCst) {
                tick.tick().await;
                let ready_ones: Vec<usize> = visited
                    .iter()
                    .copied()
                    .filter(|p| ready.is_ready(*p))
                    .collect();
                if ready_ones.is_empty() {
                    continue;
                }
                turn += 1;
                let pod = ready_ones[turn % ready_ones.len()];
                let url = format!("https://{domain}:{}/echo", ports[pod]);
                let request = clients[pod].get(url).send();
                let load = load.clone();
                sent.push(tokio::spawn(async move {
                    match request.await {
                        Ok(response) if response.status() == 200 => {
                            load.ok[pod].fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(response) => {
                            let status = response.status();
                            let body = response.text().await.unwrap_or_default();
                            let first = body.lines().find(|l| !l.trim().is_empty());
                            load.failures
                                .lock()
                                .unwrap()
                                .push(format!("pod {pod}: {status} {}", first.unwrap_or_default()));
                        }
                        Err(err) => load
                            .failures
                            .lock()
                            .unwrap()
                            .push(format!("pod {pod}: {err:?}")),
                    }
                }));
            }
            for request in sent {
                let _ = request.await;
            }
        })
    }

    pub fn ok_total(&self) -> usize {
        self.ok.iter().map(|n| n.load(Ordering::SeqCst)).sum()
    }

    pub fn failures(&self) -> Vec<String> {
        self.failures.lock().unwrap().clone()
    }
}

/// The value of the sample `name` (labels included) on the agent's `/metrics` at `addr`.
pub async fn agent_metric(addr: SocketAddr, name: &str) -> Option<f64> {
    let body = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}
