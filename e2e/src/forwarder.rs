//! A stand-in for a Kubernetes Service in front of the pods' DTLS ports: a UDP forwarder
//! that sends each new flow (a client address it hasn't seen: a new source port) to the
//! next of its targets in turn and keeps existing flows where they are, as kube-proxy
//! does once a not-ready endpoint is taken out. (`shared/lossy-relay` forwards every flow to one fixed upstream, so it can't
//! stand in here.)

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use tokio::{net::UdpSocket, task::JoinHandle};

/// Where new flows go: each to the next in `pods`, in turn.
struct Targets {
    pods: Vec<SocketAddr>,
    next: usize,
}

impl Targets {
    fn peek(&self) -> SocketAddr {
        self.pods[self.next % self.pods.len()]
    }

    fn take(&mut self) -> SocketAddr {
        let pod = self.peek();
        self.next = self.next.wrapping_add(1);
        pod
    }
}

pub struct Forwarder {
    pub addr: SocketAddr,
    target: Arc<Mutex<Targets>>,
    /// Flows (client → pod they were sent to), for assertions.
    pub flows: Arc<Mutex<Vec<(SocketAddr, SocketAddr)>>>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Forwarder {
    /// Every new flow to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        Self::spreading(vec![target]).await
    }

    /// New flows to `pods` in turn (a pod listed twice gets two turns in a round).
    pub async fn spreading(pods: Vec<SocketAddr>) -> Self {
        assert!(!pods.is_empty());
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let addr = front.local_addr().unwrap();
        let target = Arc::new(Mutex::new(Targets { pods, next: 0 }));
        let flows = Arc::new(Mutex::new(Vec::new()));
        let tasks: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let main = tokio::spawn({
            let (target, flows, tasks) = (target.clone(), flows.clone(), tasks.clone());
            async move {
                let mut upstreams: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
                let mut buf = vec![0u8; 65536];
                loop {
                    let Ok((n, client)) = front.recv_from(&mut buf).await else {
                        return;
                    };
                    let upstream = match upstreams.get(&client) {
                        Some(upstream) => upstream.clone(),
                        None => {
                            let pod = target.lock().unwrap().take();
                            let upstream = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
                            upstream.connect(pod).await.unwrap();
                            flows.lock().unwrap().push((client, pod));
                            let back = tokio::spawn({
                                let (upstream, front) = (upstream.clone(), front.clone());
                                async move {
                                    let mut buf = vec![0u8; 65536];
                                    while let Ok(n) = upstream.recv(&mut buf).await {
                                        let _ = front.send_to(&buf[..n], client).await;
                                    }
                                }
                            });
                            tasks.lock().unwrap().push(back);
                            upstreams.insert(client, upstream.clone());
                            upstream
                        }
                    };
                    let _ = upstream.send(&buf[..n]).await;
                }
            }
        });
        tasks.lock().unwrap().push(main);
        Self {
            addr,
            target,
            flows,
            tasks,
        }
    }

    /// Where new flows go from now on.
    pub fn set_target(&self, pod: SocketAddr) {
        self.set_targets(vec![pod]);
    }

    /// New flows go to `pods` in turn from now on (unchanged if `pods` is empty).
    pub fn set_targets(&self, pods: Vec<SocketAddr>) {
        let mut target = self.target.lock().unwrap();
        if !pods.is_empty() && target.pods != pods {
            *target = Targets { pods, next: 0 };
        }
    }

    /// Where the next new flow goes.
    pub fn target(&self) -> SocketAddr {
        self.target.lock().unwrap().peek()
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}
