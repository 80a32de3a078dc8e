//! The established sessions' data path: application data sealed straight into the send
//! buffer and opened where it was received.
//!
//! Every QUIC packet travels as one application-data record. Through rtc-dtls's general
//! [`Endpoint::write`](rtc_dtls::endpoint::Endpoint::write) and
//! [`Endpoint::read`](rtc_dtls::endpoint::Endpoint::read) a record is copied four or five
//! times and allocated as often; here it is copied once on the way out (into the buffer the
//! system call sends from) and not at all on the way in. The checks are rtc-dtls's own
//! (current epoch, replay window, authentication), run by the same association state, so
//! both paths share one sequence counter and one replay window. Anything that is not one
//! application-data record of an established association (handshakes, alerts, a record
//! from a new address, several records in one datagram) goes the general way.

use std::{net::SocketAddr, ops::Range, time::Instant};

use rtc_dtls::conn::Opened;

use super::{DtlsTable, wire};

/// What [`DtlsTable::open_in_place`] made of a datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InPlace {
    /// Opened: the payload is this range of the datagram.
    Payload(Range<usize>),
    /// Dropped: a replay, or a record that did not authenticate.
    Dropped,
    /// Not for this path: hand the untouched datagram to
    /// [`DtlsTable::handle_datagram`].
    Elsewhere,
}

/// What [`DtlsTable::seal`] did with a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sealed {
    /// One record appended to the buffer.
    Appended,
    /// The association cannot seal in place: [`DtlsTable::encrypt`] has to.
    Elsewhere,
}

impl DtlsTable {
    /// Seals `payload` for the established association at `to` as one record appended to
    /// `out`. `Err` if there is no established association (the payload is dropped, as on
    /// a dead path).
    pub(crate) fn seal(
        &mut self,
        to: SocketAddr,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Sealed, ()> {
        let peer = self.peers.get_mut(&to).ok_or(())?;
        let dtls_addr = peer.dtls_addr;
        let dtls = peer.established_dtls().ok_or(())?;
        match dtls.seal_application_data(dtls_addr, payload, out) {
            Ok(true) => Ok(Sealed::Appended),
            Ok(false) => Ok(Sealed::Elsewhere),
            Err(_) => Err(()),
        }
    }

    /// Opens `datagram` in place if it is one application-data record of the established
    /// association at `from`; otherwise leaves it untouched ([`InPlace::Elsewhere`]).
    pub(crate) fn open_in_place(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &mut [u8],
    ) -> InPlace {
        let Some(position) = wire::sole_application_record(datagram) else {
            return InPlace::Elsewhere;
        };
        let Some(peer) = self.peers.get_mut(&from) else {
            return InPlace::Elsewhere;
        };
        let dtls_addr = peer.dtls_addr;
        let Some(dtls) = peer.established_dtls() else {
            return InPlace::Elsewhere;
        };
        match dtls.open_application_data(dtls_addr, datagram) {
            Opened::Data(payload) => {
                peer.last_rx = now;
                peer.accepted(position);
                InPlace::Payload(payload)
            }
            Opened::Replayed => InPlace::Dropped,
            Opened::Forged => {
                self.counters.undecryptable_dropped += 1;
                tracing::debug!(peer = %from, "dropped a DTLS record that did not authenticate");
                InPlace::Dropped
            }
            Opened::Elsewhere => InPlace::Elsewhere,
        }
    }
}
