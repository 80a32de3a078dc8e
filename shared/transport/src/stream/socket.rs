//! The virtual UDP socket quinn runs on for TCP peers: every TCP connection is a peer with
//! an address of its own in the discard prefix `100::/64` (RFC 6666; never a real peer).
//! A packet quinn sends to that address goes into the connection's queue, which its writer
//! drains; packets its reader cuts out of the byte stream are handed to quinn like datagrams.
//!
//! Nothing here waits: a peer whose queue is full (it reads slowly, or not at all) loses
//! the packet, as on a congested path, and quinn backs off for that connection only.

use std::{
    collections::HashMap,
    fmt, io,
    io::IoSliceMut,
    net::{Ipv6Addr, SocketAddr, SocketAddrV6},
    pin::Pin,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
};

use bytes::Bytes;
use quinn::{
    AsyncUdpSocket, UdpPoller,
    udp::{RecvMeta, Transmit},
};
use tokio::sync::mpsc;

use crate::socket::put_payload;

/// Packets read from all peers and not yet taken by quinn; a full queue makes readers wait.
const INBOUND_QUEUE: usize = 4096;
/// Packets quinn may hand over in one call.
const SEND_BATCH: usize = 32;

/// Addresses handed out so far, across sockets (each is used once per process).
static NEXT_ADDRESS: AtomicU64 = AtomicU64::new(1);

/// A fresh address for a TCP peer, in `100::/64`.
pub(crate) fn synthetic_address() -> SocketAddr {
    let n = NEXT_ADDRESS.fetch_add(1, Ordering::Relaxed);
    let ip = Ipv6Addr::from((0x0100_u128 << 112) | u128::from(n));
    SocketAddr::V6(SocketAddrV6::new(ip, 443, 0, 0))
}

/// Whether `addr` is one of the addresses this module hands out.
#[cfg(test)]
fn is_synthetic(addr: &SocketAddr) -> bool {
    matches!(addr, SocketAddr::V6(v6) if v6.ip().segments()[..4] == [0x0100, 0, 0, 0])
}

/// What the socket counts.
#[derive(Debug, Default)]
pub(crate) struct StreamCounters {
    /// Packets dropped because their peer's queue was full.
    pub(crate) queue_full_dropped: AtomicU64,
}

/// The sending side of one peer's queue.
struct Outbound {
    packets: mpsc::UnboundedSender<Bytes>,
    queued: Arc<AtomicUsize>,
}

/// What a peer's reader and writer use.
pub(crate) struct PeerIo {
    pub(crate) addr: SocketAddr,
    /// Packets to write to the peer, and the bytes among them not yet written.
    pub(crate) outbound: mpsc::UnboundedReceiver<Bytes>,
    pub(crate) queued: Arc<AtomicUsize>,
    /// Where packets read from the peer go.
    pub(crate) inbound: mpsc::Sender<(SocketAddr, Bytes)>,
}

pub(crate) struct StreamSocket {
    local: SocketAddr,
    queue_limit: usize,
    peers: Mutex<HashMap<SocketAddr, Outbound>>,
    inbound: Mutex<mpsc::Receiver<(SocketAddr, Bytes)>>,
    inbound_tx: mpsc::Sender<(SocketAddr, Bytes)>,
    pub(crate) counters: StreamCounters,
}

impl fmt::Debug for StreamSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamSocket")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl StreamSocket {
    /// `queue_limit`: bytes queued towards one peer before its packets are dropped.
    pub(crate) fn new(queue_limit: usize) -> Arc<Self> {
        let (inbound_tx, inbound) = mpsc::channel(INBOUND_QUEUE);
        Arc::new(Self {
            local: synthetic_address(),
            queue_limit,
            peers: Mutex::new(HashMap::new()),
            inbound: Mutex::new(inbound),
            inbound_tx,
            counters: StreamCounters::default(),
        })
    }

    fn peers(&self) -> MutexGuard<'_, HashMap<SocketAddr, Outbound>> {
        // Every change is a single map operation: a poisoned map is still consistent.
        self.peers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A new peer at a fresh address.
    pub(crate) fn attach(&self) -> PeerIo {
        let addr = synthetic_address();
        let (packets, outbound) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        self.peers().insert(
            addr,
            Outbound {
                packets,
                queued: queued.clone(),
            },
        );
        PeerIo {
            addr,
            outbound,
            queued,
            inbound: self.inbound_tx.clone(),
        }
    }

    /// Forgets a peer: what is queued is still written, later packets are dropped.
    pub(crate) fn detach(&self, addr: &SocketAddr) {
        self.peers().remove(addr);
    }
}

impl AsyncUdpSocket for StreamSocket {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        Box::pin(AlwaysWritable)
    }

    fn try_send(&self, transmit: &Transmit<'_>) -> io::Result<()> {
        let peers = self.peers();
        let Some(peer) = peers.get(&transmit.destination) else {
            // The connection is gone: the packet is lost, as on a dead path.
            return Ok(());
        };
        let segment = transmit
            .segment_size
            .unwrap_or(transmit.contents.len())
            .max(1);
        let contents = Bytes::copy_from_slice(transmit.contents);
        let mut offset = 0;
        while offset < contents.len() {
            let end = (offset + segment).min(contents.len());
            let len = end - offset;
            if peer.queued.load(Ordering::Relaxed) + len > self.queue_limit {
                self.counters
                    .queue_full_dropped
                    .fetch_add(1, Ordering::Relaxed);
            } else {
                peer.queued.fetch_add(len, Ordering::Relaxed);
                let _ = peer.packets.send(contents.slice(offset..end));
            }
            offset = end;
        }
        Ok(())
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let mut inbound = self
            .inbound
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut filled = 0;
        while filled < bufs.len() {
            let Poll::Ready(Some((addr, packet))) = inbound.poll_recv(cx) else {
                break;
            };
            // Readers refuse frames over the endpoint's packet size; this can't miss.
            if put_payload(&mut bufs[filled], &mut meta[filled], addr, &packet) {
                filled += 1;
            }
        }
        if filled > 0 {
            Poll::Ready(Ok(filled))
        } else {
            Poll::Pending
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    fn max_transmit_segments(&self) -> usize {
        SEND_BATCH
    }

    fn may_fragment(&self) -> bool {
        // Keeps quinn's path-MTU discovery off: the packet size is configured.
        true
    }
}

#[derive(Debug)]
struct AlwaysWritable;

impl UdpPoller for AlwaysWritable {
    fn poll_writable(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_addresses_are_unique_and_in_the_discard_prefix() {
        let a = synthetic_address();
        let b = synthetic_address();
        assert_ne!(a, b);
        assert!(is_synthetic(&a) && is_synthetic(&b));
        assert!(!is_synthetic(&"[2001:db8::1]:443".parse().unwrap()));
        assert!(!is_synthetic(&"127.0.0.1:443".parse().unwrap()));
    }

    #[tokio::test]
    async fn a_full_queue_drops_instead_of_waiting() {
        let socket = StreamSocket::new(3000);
        let mut peer = socket.attach();
        let packet = [7u8; 1200];
        for _ in 0..3 {
            let transmit = Transmit {
                destination: peer.addr,
                ecn: None,
                contents: &packet,
                segment_size: None,
                src_ip: None,
            };
            socket.try_send(&transmit).unwrap();
        }
        assert_eq!(
            socket.counters.queue_full_dropped.load(Ordering::Relaxed),
            1
        );
        assert_eq!(peer.queued.load(Ordering::Relaxed), 2400);
        assert_eq!(peer.outbound.recv().await.unwrap().len(), 1200);
    }
}
