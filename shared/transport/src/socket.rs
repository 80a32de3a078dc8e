//! The virtual UDP socket the stream layer (quinn) runs on: every packet it sends is sealed
//! in one DTLS record, every record that arrives is opened before it sees it.
//!
//! There is no channel hop and no extra task on the data path: quinn's own endpoint driver
//! calls [`DtlsSocket::poll_recv`] and [`DtlsSocket::try_send`], which lock the DTLS table
//! briefly and do the system calls inline: sends batched with GSO, receives with `recvmmsg`
//! and GRO ([`RecvBatch`]). A small timer task ([`crate::timer`]) drives handshake
//! retransmissions and forgets expired state. A server's handshake reads, with their
//! public-key work, run on the socket's handshake thread instead
//! ([`crate::handshake_thread`]), so a storm of new agents never holds up established
//! sessions' packets behind its arithmetic; the receive path takes the finished steps back.

use std::{
    collections::VecDeque,
    fmt, io,
    io::IoSliceMut,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, AtomicUsize, Ordering},
        mpsc as std_mpsc,
    },
    task::{Context, Poll},
    time::Instant,
};

use bytes::BytesMut;
use futures_util::task::AtomicWaker;
use quinn::{
    AsyncUdpSocket, UdpPoller,
    udp::{RecvMeta, Transmit},
};
use tokio::{
    io::{Interest, unix::AsyncFd},
    sync::mpsc,
};

use crate::{
    dtls::{DtlsTable, InPlace, Output, PeerEvent, Returned, Sealed},
    handshake_thread::{self, HandshakeThread},
    readiness::{SendRoom, Writable, register},
    recv_batch::{MAX_BATCH, RecvBatch},
    timer::{self, TimerWake},
};

/// Kernel socket buffers we ask for: room for bursts at hundreds of MB/s.
const KERNEL_BUFFER: usize = 8 * 1024 * 1024;

/// The most bytes one GSO send may carry: the kernel refuses (and quinn-udp then turns GSO
/// off for good) a batch whose total exceeds one IP packet's 64 KiB, IPv6 header included.
const MAX_GSO_BYTES: usize = 65_535 - 40 - 8;

pub(crate) struct DtlsSocket {
    /// Registered with tokio for reading only: every datagram sent would otherwise come
    /// back as a writability edge, one more wake-up of the reactor per packet. Writability
    /// is waited for only after the kernel refused a send ([`Writable`]).
    io: AsyncFd<std::net::UdpSocket>,
    /// Set when the kernel refused a send for a full buffer; cleared once the socket is
    /// writable again.
    send_blocked: AtomicBool,
    /// The connections' shared wait for the socket to be writable again.
    send_room: SendRoom,
    /// Batched sends (GSO): one system call for a burst of equal-sized datagrams.
    udp_state: quinn::udp::UdpSocketState,
    local_addr: SocketAddr,
    inner: Mutex<Inner>,
    events: mpsc::UnboundedSender<PeerEvent>,
    /// Where handshake steps go when the table hands them off: the handshake thread.
    steps: Option<handshake_thread::Route>,
    /// Handshake steps sent to the handshake thread and not yet taken by it.
    steps_queued: Arc<AtomicUsize>,
    /// Woken when the handshake thread finished a step: the stream layer's receive task.
    step_finished: Arc<AtomicWaker>,
    /// Wakes the timer task when a handshake starts.
    timer: TimerWake,
}

struct Inner {
    table: DtlsTable,
    /// Payloads decrypted but not yet handed to quinn (its batch was full).
    pending: VecDeque<(SocketAddr, BytesMut)>,
    recv: RecvBatch,
    /// Where a burst of records is laid end to end for one GSO send.
    send_buf: Vec<u8>,
    /// Where an outgoing transmit's packets are sealed, record after record, and sent from.
    sealed: Vec<u8>,
    out: Output,
    /// Handshake steps the handshake thread finished, for the receive path to take back.
    finished: Option<std_mpsc::Receiver<Returned>>,
}

impl fmt::Debug for DtlsSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DtlsSocket")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl DtlsSocket {
    /// Wraps a bound socket; returns it with the stream of peer lifecycle events. A table
    /// that hands its handshakes off sends them to `handshakes`.
    pub(crate) fn new(
        socket: std::net::UdpSocket,
        table: DtlsTable,
        handshakes: Option<&HandshakeThread>,
    ) -> io::Result<(Arc<Self>, mpsc::UnboundedReceiver<PeerEvent>)> {
        socket.set_nonblocking(true)?;
        let sock_ref = socket2::SockRef::from(&socket);
        // Best effort: the kernel caps these at its own maximum.
        let _ = sock_ref.set_recv_buffer_size(KERNEL_BUFFER);
        let _ = sock_ref.set_send_buffer_size(KERNEL_BUFFER);
        let udp_state = quinn::udp::UdpSocketState::new((&socket).into())?;
        let local_addr = socket.local_addr()?;
        let io = register(socket, Interest::READABLE)?;
        let (events, events_rx) = mpsc::unbounded_channel();
        let steps_queued = Arc::new(AtomicUsize::new(0));
        let step_finished = Arc::new(AtomicWaker::new());
        let (steps, finished) = match handshakes.filter(|_| table.hands_off().is_some()) {
            Some(thread) => {
                let (route, finished) = thread.route(steps_queued.clone(), step_finished.clone());
                (Some(route), Some(finished))
            }
            None => (None, None),
        };
        let socket = Arc::new(Self {
            io,
            send_blocked: AtomicBool::new(false),
            send_room: SendRoom::default(),
            udp_state,
            local_addr,
            inner: Mutex::new(Inner {
                table,
                pending: VecDeque::new(),
                recv: RecvBatch::new(MAX_BATCH),
                send_buf: Vec::new(),
                sealed: Vec::new(),
                out: Output::default(),
                finished,
            }),
            events,
            steps,
            steps_queued,
            step_finished,
            timer: TimerWake::default(),
        });
        tokio::spawn(timer::run(Arc::downgrade(&socket), socket.timer.notify()));
        Ok((socket, events_rx))
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Handshake steps waiting for the handshake thread.
    pub(crate) fn handshake_steps_queued(&self) -> usize {
        self.steps_queued.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the table consistent enough to keep serving
        // (every mutation is a single map operation), so recover from poisoning.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` on the DTLS table, then sends what it queued and publishes its events.
    pub(crate) fn with_table<R>(&self, f: impl FnOnce(&mut DtlsTable, &mut Output) -> R) -> R {
        let mut inner = self.lock();
        let Inner {
            table,
            out,
            send_buf,
            ..
        } = &mut *inner;
        let result = f(table, out);
        self.timer.table_changed(table.handshaking());
        self.flush(out, send_buf);
        result
    }

    /// The timer task's side of [`TimerWake`].
    pub(crate) fn timer_wake(&self) -> &TimerWake {
        &self.timer
    }

    /// Sends one datagram on the socket's descriptor. This only fails when the kernel says
    /// so.
    fn send_to(&self, datagram: &[u8], to: SocketAddr) -> io::Result<()> {
        socket2::SockRef::from(self.io.get_ref())
            .send_to(datagram, &to.into())
            .map(|_| ())
    }

    /// The socket's descriptor, for a registration of its own ([`crate::readiness`]).
    pub(crate) fn descriptor(&self) -> &std::net::UdpSocket {
        self.io.get_ref()
    }

    /// The connections' shared wait for room to send.
    pub(crate) fn send_room(&self) -> &SendRoom {
        &self.send_room
    }

    /// Whether the kernel refused a send since the socket was last writable.
    pub(crate) fn send_blocked(&self) -> bool {
        self.send_blocked.load(Ordering::Relaxed)
    }

    /// The kernel refused a send: its buffer is full.
    pub(crate) fn block_sends(&self) {
        self.send_blocked.store(true, Ordering::Relaxed);
    }

    /// The socket is writable again.
    pub(crate) fn unblock_sends(&self) {
        self.send_blocked.store(false, Ordering::Relaxed);
    }

    /// Sends sealed records, batching runs of equal size to one destination into one GSO
    /// system call. `WouldBlock` means the kernel buffer is full (see [`Self::send_run`]).
    fn send_batch(
        &self,
        datagrams: &mut Vec<(SocketAddr, BytesMut)>,
        send_buf: &mut Vec<u8>,
    ) -> io::Result<()> {
        let max_segments = self.udp_state.max_gso_segments();
        let mut result = Ok(());
        let mut i = 0;
        while i < datagrams.len() {
            let (addr, first) = (datagrams[i].0, datagrams[i].1.len());
            let end = gso_run_end(datagrams, i, max_segments);
            let sent = if end - i == 1 {
                self.send_run(addr, &datagrams[i].1, first)
            } else {
                send_buf.clear();
                for (_, datagram) in &datagrams[i..end] {
                    send_buf.extend_from_slice(datagram);
                }
                self.send_run(addr, send_buf, first)
            };
            if let Err(err) = sent {
                result = Err(err);
                break;
            }
            i = end;
        }
        datagrams.clear();
        result
    }

    /// Sends `records`, laid end to end and `record_len` bytes each (the last may be
    /// shorter), to `to`: as many per GSO system call as the kernel takes.
    fn send_records(&self, to: SocketAddr, records: &[u8], record_len: usize) -> io::Result<()> {
        let per_send =
            (MAX_GSO_BYTES / record_len.max(1)).clamp(1, self.udp_state.max_gso_segments());
        for run in records.chunks(per_send * record_len.max(1)) {
            self.send_run(to, run, record_len)?;
        }
        Ok(())
    }

    /// Sends `contents`, datagrams of `segment` bytes laid end to end (the last may be
    /// shorter), in one system call. Only `WouldBlock` (the kernel buffer is full) is
    /// returned, with the socket marked blocked so the caller's wait for writability
    /// ([`Writable`]) really waits; any other failure is the datagrams' loss, logged.
    fn send_run(&self, to: SocketAddr, contents: &[u8], segment: usize) -> io::Result<()> {
        let sent = if contents.len() <= segment {
            self.send_to(contents, to)
        } else {
            let transmit = Transmit {
                destination: to,
                ecn: None,
                contents,
                segment_size: Some(segment),
                src_ip: None,
            };
            self.udp_state.send(self.io.get_ref().into(), &transmit)
        };
        match sent {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                self.block_sends();
                Err(err)
            }
            Err(err) => {
                tracing::debug!(peer = %to, error = %err, "UDP send failed");
                Ok(())
            }
            Ok(()) => Ok(()),
        }
    }

    /// Sends queued datagrams, publishes queued events and hands queued handshake steps to
    /// the handshake thread.
    fn flush(&self, out: &mut Output, send_buf: &mut Vec<u8>) {
        // Datagrams are best effort: a full kernel buffer is loss, which the layers above
        // recover from.
        let _ = self.send_batch(&mut out.transmits, send_buf);
        for event in out.events.drain(..) {
            let _ = self.events.send(event);
        }
        for step in out.steps.drain(..) {
            // Without the thread (never for a table that hands off) the association stays
            // without its state machine and expires at the handshake timeout.
            if let Some(steps) = &self.steps {
                steps.send(step);
            }
        }
    }
}

impl AsyncUdpSocket for DtlsSocket {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        Box::pin(Writable::new(self))
    }

    fn try_send(&self, transmit: &Transmit<'_>) -> io::Result<()> {
        let mut inner = self.lock();
        let Inner {
            table,
            out,
            send_buf,
            sealed,
            ..
        } = &mut *inner;
        let now = Instant::now();
        let to = transmit.destination;
        let segment = transmit
            .segment_size
            .unwrap_or(transmit.contents.len())
            .max(1);
        sealed.clear();
        let mut record_len = None;
        for packet in transmit.contents.chunks(segment) {
            let before = sealed.len();
            let done = match table.seal(to, packet, sealed) {
                Ok(Sealed::Appended) => {
                    record_len.get_or_insert(sealed.len() - before);
                    Ok(())
                }
                Ok(Sealed::Elsewhere) => table.encrypt(now, to, packet, out),
                Err(()) => Err(()),
            };
            // No association (closed or replaced): the packet is dropped, as on a dead path.
            if done.is_err() {
                tracing::debug!(
                    peer = %to,
                    len = packet.len(),
                    "dropped an outgoing packet: no established DTLS association with the peer"
                );
            }
        }
        let mut result = match record_len {
            Some(record_len) => self.send_records(to, sealed, record_len),
            None => Ok(()),
        };
        if !out.transmits.is_empty() {
            result = result.and(self.send_batch(&mut out.transmits, send_buf));
        }
        for event in out.events.drain(..) {
            let _ = self.events.send(event);
        }
        result
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let mut inner = self.lock();
        let Inner {
            table,
            pending,
            recv,
            send_buf,
            out,
            finished,
            ..
        } = &mut *inner;
        let now = Instant::now();
        if finished.is_some() {
            // Registered first: a step finished from here on wakes this task again.
            self.step_finished.register(cx.waker());
        }
        let mut filled = 0;
        let result = loop {
            filled += hand_over(pending, &mut bufs[filled..], &mut meta[filled..]);
            if filled == bufs.len() {
                break Ok(());
            }
            if let Some((from, datagram)) = recv.next() {
                match table.open_in_place(now, from, datagram) {
                    // `pending` is empty here: the buffers were not all filled.
                    InPlace::Payload(payload) => {
                        let payload = &datagram[payload];
                        if place(&mut bufs[filled], &mut meta[filled], from, payload) {
                            filled += 1;
                        }
                    }
                    InPlace::Dropped => {}
                    InPlace::Elsewhere => table.handle_datagram(
                        now,
                        from,
                        BytesMut::from(&datagram[..]),
                        &mut |addr, payload| pending.push_back((addr, payload)),
                        out,
                    ),
                }
                continue;
            }
            if let Some(returned) = finished.as_ref().and_then(|f| f.try_recv().ok()) {
                match returned {
                    Returned::Done(done) => table.take_back(
                        now,
                        done,
                        &mut |addr, payload| pending.push_back((addr, payload)),
                        out,
                    ),
                    Returned::Dropped(dropped) => table.forget_dropped(dropped, out),
                }
                continue;
            }
            self.flush(out, send_buf);
            let mut ready = match self.io.poll_read_ready(cx) {
                Poll::Ready(Ok(ready)) => ready,
                Poll::Ready(Err(err)) => break Err(err),
                Poll::Pending => break Ok(()),
            };
            let read = ready.try_io(|io| {
                recv.fill(&self.udp_state, io.get_ref().into())?;
                if recv.emptied_queue() {
                    // Nothing more to read: saying so clears tokio's readiness without a
                    // second system call that would only find the queue empty. A datagram
                    // that arrives from now on sets it again. What was read stays in `recv`.
                    return Err(io::Error::from(io::ErrorKind::WouldBlock));
                }
                Ok(())
            });
            match read {
                Ok(Ok(())) => {}
                // Nothing left: readiness is cleared, and the next poll waits for more.
                Err(_would_block) => {}
                // An ICMP error about an earlier datagram: nothing to read.
                Ok(Err(err))
                    if matches!(
                        err.kind(),
                        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionRefused
                    ) => {}
                Ok(Err(err)) => break Err(err),
            }
        };
        self.timer.table_changed(table.handshaking());
        self.flush(out, send_buf);
        match result {
            Err(err) if filled == 0 => Poll::Ready(Err(err)),
            _ if filled > 0 => Poll::Ready(Ok(filled)),
            _ => Poll::Pending,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local_addr)
    }

    fn max_transmit_segments(&self) -> usize {
        self.udp_state.max_gso_segments()
    }

    fn may_fragment(&self) -> bool {
        // Where quinn-udp could set the descriptor's don't-fragment mode (IP_PMTUDISC_PROBE
        // on Linux), a datagram larger than the path never leaves in pieces, it is lost,
        // which is what quinn's path-MTU discovery needs to see: discovery runs. The sizes
        // it may try are capped by the configuration at one DTLS record.
        self.udp_state.may_fragment()
    }
}

/// Where the run of datagrams that starts at `start` ends (exclusive): the ones that can
/// leave in one GSO send. Same destination, same size (the last may be shorter), at most
/// `max_segments` of them and [`MAX_GSO_BYTES`] in all.
fn gso_run_end(datagrams: &[(SocketAddr, BytesMut)], start: usize, max_segments: usize) -> usize {
    let (addr, first) = (datagrams[start].0, datagrams[start].1.len());
    let mut end = start + 1;
    let mut bytes = first;
    while let Some((to, datagram)) = datagrams.get(end)
        && end - start < max_segments
        && *to == addr
        && datagrams[end - 1].1.len() == first
        && datagram.len() <= first
        && bytes + datagram.len() <= MAX_GSO_BYTES
    {
        bytes += datagram.len();
        end += 1;
    }
    end
}

/// Moves decrypted payloads to quinn's buffers, one each, while both last; returns how
/// many buffers it filled.
fn hand_over(
    pending: &mut VecDeque<(SocketAddr, BytesMut)>,
    bufs: &mut [IoSliceMut<'_>],
    meta: &mut [RecvMeta],
) -> usize {
    let mut filled = 0;
    while filled < bufs.len() {
        let Some((addr, payload)) = pending.pop_front() else {
            break;
        };
        if place(&mut bufs[filled], &mut meta[filled], addr, &payload) {
            filled += 1;
        }
    }
    filled
}

/// [`put_payload`], with a payload too large for the buffer dropped and logged.
fn place(buf: &mut IoSliceMut<'_>, meta: &mut RecvMeta, addr: SocketAddr, payload: &[u8]) -> bool {
    let placed = put_payload(buf, meta, addr, payload);
    if !placed {
        tracing::debug!(peer = %addr, len = payload.len(), "payload larger than the stream layer's buffer");
    }
    placed
}

/// Copies one received payload from `addr` into quinn's buffer `buf` and describes it in
/// `meta`; `false` (and nothing written) if it does not fit.
pub(crate) fn put_payload(
    buf: &mut IoSliceMut<'_>,
    meta: &mut RecvMeta,
    addr: SocketAddr,
    payload: &[u8],
) -> bool {
    let Some(slot) = buf.get_mut(..payload.len()) else {
        return false;
    };
    slot.copy_from_slice(payload);
    *meta = RecvMeta {
        addr,
        len: payload.len(),
        stride: payload.len(),
        ecn: None,
        dst_ip: None,
    };
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datagrams(to: &[(u16, usize)]) -> Vec<(SocketAddr, BytesMut)> {
        to.iter()
            .map(|&(port, len)| {
                (
                    SocketAddr::from(([127, 0, 0, 1], port)),
                    BytesMut::zeroed(len),
                )
            })
            .collect()
    }

    /// Cuts the whole list into runs, returning each run's length.
    fn runs(datagrams: &[(SocketAddr, BytesMut)], max_segments: usize) -> Vec<usize> {
        let mut lengths = Vec::new();
        let mut start = 0;
        while start < datagrams.len() {
            let end = gso_run_end(datagrams, start, max_segments);
            lengths.push(end - start);
            start = end;
        }
        lengths
    }

    #[test]
    fn a_run_is_one_peer_one_size_with_a_shorter_last() {
        let list = datagrams(&[
            (1, 1350),
            (1, 1350),
            (1, 900),
            (1, 1350),
            (2, 1350),
            (2, 1350),
        ]);
        assert_eq!(runs(&list, 64), [3, 1, 2]);
        assert_eq!(runs(&list, 2), [2, 1, 1, 2]);
    }

    #[test]
    fn a_run_of_full_records_stays_within_one_ip_packet() {
        // Ten records of 16,421 bytes: 64 KiB holds three of them.
        let list = datagrams(&[(1, 16_421); 10]);
        assert_eq!(runs(&list, 64), [3, 3, 3, 1]);
        let small = datagrams(&[(1, 1350); 60]);
        assert_eq!(runs(&small, 64), [48, 12]);
    }
}
