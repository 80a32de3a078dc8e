//! A UDP relay between the agent and the gateway that can go silent.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
};

/// Relays datagrams between the agent and the gateway until told to drop everything (a
/// gateway that vanished without a word, or a network that went away).
pub struct UdpRelay {
    pub addr: SocketAddr,
    silent: Arc<AtomicBool>,
    /// New handshakes (epoch-0 handshake records from the agent) dropped while silent.
    hellos_dropped: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl UdpRelay {
    pub async fn start(gateway: SocketAddr) -> Self {
        let front = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let back = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
        back.connect(gateway).await.unwrap();
        let silent = Arc::new(AtomicBool::new(false));
        let hellos_dropped = Arc::new(AtomicUsize::new(0));
        let client = Arc::new(Mutex::new(None::<SocketAddr>));
        let up = {
            let (front, back, silent, client) =
                (front.clone(), back.clone(), silent.clone(), client.clone());
            let hellos = hellos_dropped.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65_536];
                while let Ok((n, from)) = front.recv_from(&mut buf).await {
                    if silent.load(Ordering::SeqCst) {
                        // A DTLS handshake record in epoch 0: a new attempt.
                        if n > 5 && buf[0] == 22 && buf[3..5] == [0, 0] {
                            hellos.fetch_add(1, Ordering::SeqCst);
                        }
                        continue;
                    }
                    *client.lock().unwrap() = Some(from);
                    let _ = back.send(&buf[..n]).await;
                }
            })
        };
        let down = {
            let (front, back, silent, client) =
                (front.clone(), back.clone(), silent.clone(), client.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65_536];
                while let Ok(n) = back.recv(&mut buf).await {
                    let to = *client.lock().unwrap();
                    if let (false, Some(to)) = (silent.load(Ordering::SeqCst), to) {
                        let _ = front.send_to(&buf[..n], to).await;
                    }
                }
            })
        };
        Self {
            addr: front.local_addr().unwrap(),
            silent,
            hellos_dropped,
            tasks: vec![up, down],
        }
    }

    pub fn set_silent(&self, silent: bool) {
        self.silent.store(silent, Ordering::SeqCst);
    }

    /// How many datagrams of new handshakes were dropped while silent.
    pub fn hellos_dropped(&self) -> usize {
        self.hellos_dropped.load(Ordering::SeqCst)
    }
}

impl Drop for UdpRelay {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
