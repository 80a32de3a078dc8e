//! Reading many datagrams per system call: `recvmmsg` fills several buffers at once, and
//! where the kernel has coalesced a burst from one sender (UDP GRO, which
//! `quinn::udp::UdpSocketState` turns on) one buffer holds several datagrams laid end to end
//! at a fixed stride.
//!
//! What one read brought is handed out a datagram at a time ([`RecvBatch::next`]), so the
//! caller can stop between any two and go on later without losing any.
//!
//! The buffers grow with the load: a socket starts with two and doubles its set when two
//! reads in a row fill every buffer (a backlog), up to the batch it was given. A socket
//! that finds the kernel empty after each datagram, as an idle one does, keeps two: a read
//! that fills fewer buffers than it offered has emptied the kernel's queue
//! ([`RecvBatch::emptied_queue`]), which spares the caller a second system call that would
//! only say so.

use std::{io, io::IoSliceMut, net::SocketAddr};

use quinn::udp::{RecvMeta, UdpSockRef, UdpSocketState};

/// Largest UDP payload there is, and the most GRO coalesces into one buffer: a buffer can
/// never truncate what the kernel hands it.
const BUFFER: usize = 65_536;
/// Buffers one read may fill, at most.
pub(crate) const MAX_BATCH: usize = 16;

pub(crate) struct RecvBatch {
    bufs: Vec<Box<[u8]>>,
    meta: Vec<RecvMeta>,
    max: usize,
    /// Reads in a row that filled every buffer.
    full_reads: u8,
    /// Buffers the last read filled.
    filled: usize,
    /// The last read filled fewer buffers than it offered.
    emptied: bool,
    /// The next datagram to hand out: its buffer and where it starts.
    cursor: (usize, usize),
}

impl RecvBatch {
    /// Up to `max` buffers (at most [`MAX_BATCH`]).
    pub(crate) fn new(max: usize) -> Self {
        let mut batch = Self {
            bufs: Vec::new(),
            meta: Vec::new(),
            max: max.clamp(1, MAX_BATCH),
            full_reads: 0,
            filled: 0,
            emptied: false,
            cursor: (0, 0),
        };
        batch.grow(2);
        batch
    }

    /// Buffers held now.
    #[cfg(test)]
    pub(crate) fn buffers(&self) -> usize {
        self.bufs.len()
    }

    fn grow(&mut self, to: usize) {
        while self.bufs.len() < to.min(self.max) {
            self.bufs.push(vec![0; BUFFER].into_boxed_slice());
            self.meta.push(RecvMeta::default());
        }
    }

    /// The next datagram the last read brought and that wasn't handed out yet, with its
    /// sender, writable so it can be opened where it lies. An empty datagram is handed out
    /// too (empty), so it can be counted.
    pub(crate) fn next(&mut self) -> Option<(SocketAddr, &mut [u8])> {
        while self.cursor.0 < self.filled {
            let (i, start) = self.cursor;
            let RecvMeta {
                addr, len, stride, ..
            } = self.meta[i];
            let len = len.min(self.bufs[i].len());
            if len == 0 {
                self.cursor = (i + 1, 0);
                return Some((addr, &mut []));
            }
            if start < len {
                let end = (start + stride.max(1)).min(len);
                self.cursor.1 = end;
                return Some((addr, &mut self.bufs[i][start..end]));
            }
            self.cursor = (i + 1, 0);
        }
        None
    }

    /// Reads what the kernel holds, up to one batch, dropping whatever the last read
    /// brought that [`Self::next`] didn't hand out. Returns how many buffers were filled;
    /// `WouldBlock` when there was nothing.
    pub(crate) fn fill(
        &mut self,
        state: &UdpSocketState,
        socket: UdpSockRef<'_>,
    ) -> io::Result<usize> {
        self.filled = 0;
        self.emptied = false;
        self.cursor = (0, 0);
        let held = self.bufs.len();
        let read = {
            let mut bufs = self.bufs.iter_mut();
            let mut slices: [IoSliceMut<'_>; MAX_BATCH] = std::array::from_fn(|_| {
                IoSliceMut::new(bufs.next().map_or(Default::default(), |b| &mut b[..]))
            });
            state.recv(socket, &mut slices[..held], &mut self.meta)
        };
        let filled = match read {
            Ok(filled) => filled,
            Err(err) => {
                self.full_reads = 0;
                return Err(err);
            }
        };
        self.filled = filled;
        self.emptied = filled < held;
        if filled < held {
            self.full_reads = 0;
        } else if self.full_reads == 0 {
            self.full_reads = 1;
        } else {
            self.full_reads = 0;
            self.grow(held * 2);
        }
        Ok(filled)
    }

    /// Whether the last read took everything the kernel held: it filled fewer buffers than
    /// it offered, and `recvmmsg` stops early only when the queue runs dry (on a socket
    /// that is not connected and does not ask for ICMP errors, no error can stop it first).
    pub(crate) fn emptied_queue(&self) -> bool {
        self.emptied
    }
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;

    use super::*;

    fn pair() -> (UdpSocket, UdpSocket, UdpSocketState) {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        let state = UdpSocketState::new((&receiver).into()).unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.connect(receiver.local_addr().unwrap()).unwrap();
        (receiver, sender, state)
    }

    fn read_all(batch: &mut RecvBatch, state: &UdpSocketState, socket: &UdpSocket) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        loop {
            match batch.fill(state, socket.into()) {
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return got,
                Err(err) => panic!("{err}"),
            }
            while let Some((_, datagram)) = batch.next() {
                got.push(datagram.to_vec());
            }
        }
    }

    #[test]
    fn an_empty_datagram_is_handed_out_empty_between_the_others() {
        let (receiver, sender, state) = pair();
        let sent = [vec![1; 10], Vec::new(), vec![2; 20]];
        for datagram in &sent {
            sender.send(datagram).unwrap();
        }
        let mut batch = RecvBatch::new(8);
        assert_eq!(read_all(&mut batch, &state, &receiver), sent);
    }

    #[test]
    fn every_datagram_arrives_whole_and_in_order_and_the_batch_grows() {
        let (receiver, sender, state) = pair();
        let sent: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 100 + usize::from(i)]).collect();
        for datagram in &sent {
            sender.send(datagram).unwrap();
        }
        let mut batch = RecvBatch::new(8);
        assert_eq!(batch.buffers(), 2);
        assert_eq!(read_all(&mut batch, &state, &receiver), sent);
        assert_eq!(batch.buffers(), 8, "grown to its limit by a backlog");
    }

    #[test]
    fn what_one_read_brought_is_handed_out_one_at_a_time() {
        let (receiver, sender, state) = pair();
        for i in 0..3u8 {
            sender.send(&[i; 10]).unwrap();
        }
        let mut batch = RecvBatch::new(4);
        batch.grow(4);
        assert_eq!(batch.fill(&state, (&receiver).into()).unwrap(), 3);
        let (from, first) = batch.next().unwrap();
        assert_eq!(
            (from, first),
            (sender.local_addr().unwrap(), &mut [0u8; 10][..])
        );
        // The caller may stop here: the rest waits for its next turn.
        assert_eq!(batch.next().unwrap().1, &[1u8; 10][..]);
        assert_eq!(batch.next().unwrap().1, &[2u8; 10][..]);
        assert!(batch.next().is_none());
        assert!(batch.next().is_none());
    }

    #[test]
    fn a_socket_that_drains_after_each_datagram_keeps_two_buffers() {
        let (receiver, sender, state) = pair();
        let mut batch = RecvBatch::new(8);
        for i in 0..10u8 {
            sender.send(&[i; 50]).unwrap();
            assert_eq!(batch.fill(&state, (&receiver).into()).unwrap(), 1);
            assert!(batch.emptied_queue(), "one datagram in two buffers");
            assert_eq!(batch.next().unwrap().1, &[i; 50][..]);
            assert!(batch.next().is_none());
        }
        assert_eq!(batch.buffers(), 2);
    }

    #[test]
    fn a_read_that_fills_every_buffer_has_not_emptied_the_queue() {
        let (receiver, sender, state) = pair();
        for i in 0..3u8 {
            sender.send(&[i; 10]).unwrap();
        }
        let mut batch = RecvBatch::new(8);
        assert_eq!(batch.fill(&state, (&receiver).into()).unwrap(), 2);
        assert!(!batch.emptied_queue(), "a third datagram waits");
        assert_eq!(batch.fill(&state, (&receiver).into()).unwrap(), 1);
        assert!(batch.emptied_queue());
        assert_eq!(batch.next().unwrap().1, &[2u8; 10][..]);
        let empty = batch.fill(&state, (&receiver).into());
        assert_eq!(empty.unwrap_err().kind(), io::ErrorKind::WouldBlock);
        assert!(
            !batch.emptied_queue(),
            "nothing read: the caller saw WouldBlock"
        );
    }

    #[test]
    fn a_coalesced_burst_is_split_at_its_stride() {
        let (receiver, sender, _) = pair();
        let state = UdpSocketState::new((&receiver).into()).unwrap();
        let send_state = UdpSocketState::new((&sender).into()).unwrap();
        // One GSO send of ten 1,000-byte datagrams and a short last one: on loopback with GRO
        // they may arrive as one buffer; either way, as eleven datagrams.
        let mut contents = Vec::new();
        for i in 0..10u8 {
            contents.extend_from_slice(&[i; 1000]);
        }
        contents.extend_from_slice(&[99; 10]);
        let segments = send_state.max_gso_segments().min(11);
        let transmit = quinn::udp::Transmit {
            destination: receiver.local_addr().unwrap(),
            ecn: None,
            contents: &contents,
            segment_size: (segments > 1).then_some(1000),
            src_ip: None,
        };
        if segments > 1 {
            send_state.send((&sender).into(), &transmit).unwrap();
        } else {
            for chunk in contents.chunks(1000) {
                sender.send(chunk).unwrap();
            }
        }
        let got = read_all(&mut RecvBatch::new(4), &state, &receiver);
        let expected: Vec<Vec<u8>> = contents.chunks(1000).map(<[u8]>::to_vec).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn the_largest_datagram_is_not_truncated() {
        let (receiver, sender, state) = pair();
        let big = vec![7u8; 65_507];
        sender.send(&big).unwrap();
        assert_eq!(
            read_all(&mut RecvBatch::new(1), &state, &receiver),
            vec![big]
        );
    }
}
