//! A UDP relay between the agent and the gateway that can go silent.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

/// Relays datagrams between the agent and the gateway until told to drop everything (a
/// gateway that vanished without a word, or a network that went away).
pub struct UdpRelay {
    pub addr: SocketAddr,
    silent: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl UdpRelay {
    pub async fn start(gateway: SocketAddr) -> Self {
        let front = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let back = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
        back.connect(gateway).await.unwrap();
        let silent = Arc::new(AtomicBool::new(false));
        let client = Arc::new(Mutex::new(None::<SocketAddr>));
        let up = {
            let (front, back, silent, client) =
                (front.clone(), back.clone(), silent.clone(), client.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65_536];
                while let Ok((n, from)) = front.recv_from(&mut buf).await {
                    if silent.load(Ordering::SeqCst) {
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
            tasks: vec![up, down],
        }
    }

    pub fn set_silent(&self, silent: bool) {
        self.silent.store(silent, Ordering::SeqCst);
    }
}

impl Drop for UdpRelay {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
