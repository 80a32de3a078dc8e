//! Tunables of the transport, each with a name, a sane default and a validation.

use std::time::Duration;

use crate::error::ConfigError;

/// DTLS 1.2 record overhead with AES-128-GCM: 13-byte record header, 8-byte explicit nonce,
/// 16-byte tag. Every QUIC packet rides in exactly one record.
pub(crate) const DTLS_RECORD_OVERHEAD: usize = 13 + 8 + 16;

/// QUIC refuses paths that can't carry 1,200-byte packets (RFC 9000 §14).
pub(crate) const MIN_QUIC_PACKET: usize = 1200;

/// The smallest UDP payload the transport can run on: a minimal QUIC packet in one record.
pub(crate) const MIN_DATAGRAM_SIZE: usize = MIN_QUIC_PACKET + DTLS_RECORD_OVERHEAD;

/// The most plaintext one DTLS record carries (RFC 6347 §4.1: 2^14 bytes), so the largest
/// QUIC packet a datagram can hold.
pub(crate) const MAX_RECORD_PLAINTEXT: usize = 16_384;

/// The largest UDP payload the transport sends: one full DTLS record.
pub(crate) const MAX_DATAGRAM_SIZE: usize = MAX_RECORD_PLAINTEXT + DTLS_RECORD_OVERHEAD;

/// QUIC packet size on the TCP fallback by default (docs/transport.md has the measurements).
pub(crate) const DEFAULT_STREAM_PACKET: u16 = MAX_STREAM_PACKET;

/// Largest QUIC packet quinn takes (and a 2-byte length prefix can describe).
pub(crate) const MAX_STREAM_PACKET: u16 = 65_527;

/// How a session behaves; shared by both ends.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// UDP payload a session starts with, DTLS header included, and never goes below: the
    /// handshakes' flights are cut to it too. The default (1,350) fits a 1,500-byte
    /// Ethernet path with room for IPv6 and a tunnel or two on the way.
    pub datagram_size: usize,
    /// Largest UDP payload path-MTU discovery may try, DTLS header included. Once a
    /// session is up, each end probes its path for larger datagrams (RFC 8899, as QUIC
    /// does) up to this and falls back when larger ones stop arriving. The default is one
    /// full DTLS record (16,421 bytes): on a path with jumbo frames or on loopback, a
    /// datagram carries twelve times the data for the same per-packet work. Equal to
    /// `datagram_size`, discovery is off.
    pub max_datagram_size: usize,
    /// How often an otherwise idle session proves it is alive.
    pub keepalive_interval: Duration,
    /// A peer silent this long is declared dead and every stream on it fails.
    pub idle_timeout: Duration,
    /// A DTLS + stream-layer handshake that hasn't finished in this time is abandoned.
    pub handshake_timeout: Duration,
    /// First DTLS handshake retransmission; doubles on each retry.
    pub dtls_flight_interval: Duration,
    /// Receive window of one stream: how far a writer may run ahead of a slow reader.
    pub stream_receive_window: u32,
    /// Receive window of the whole session, across all its streams.
    pub session_receive_window: u32,
    /// How many streams the peer may have open towards us at once.
    pub max_concurrent_streams: u32,
    /// Congestion controller.
    pub congestion: Congestion,
    /// DTLS anti-replay window in records: wide, so that reordering isn't turned into loss.
    pub replay_window: usize,
    /// Largest QUIC packet on the TCP fallback, where no path MTU applies (each packet is
    /// one length-prefixed frame in the TLS byte stream).
    pub stream_packet_size: u16,
    /// Bytes of packets queued towards one TCP peer; beyond this, packets are dropped
    /// (the stream layer sees loss and slows down) so a slow reader never blocks others.
    pub stream_send_queue_bytes: usize,
}

/// What carries a session's packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    /// DTLS records in UDP datagrams: the normal way.
    Udp,
    /// Length-prefixed frames in a TLS connection over TCP: where UDP is blocked.
    Tcp,
}

impl Carrier {
    /// `udp` or `tcp`, for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
        }
    }

    /// The QUIC packet a session on this carrier starts with.
    pub(crate) fn packet_size(self, config: &TransportConfig) -> u16 {
        match self {
            Self::Udp => config.quic_packet_size(),
            Self::Tcp => config.stream_packet_size,
        }
    }

    /// The largest QUIC packet on this carrier: what path-MTU discovery may reach over
    /// UDP; over TCP, where no path MTU applies, the packet a session starts with.
    pub(crate) fn max_packet_size(self, config: &TransportConfig) -> u16 {
        match self {
            Self::Udp => config.max_quic_packet_size(),
            Self::Tcp => config.stream_packet_size,
        }
    }
}

/// Which congestion controller drives the send rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Congestion {
    /// Model-based (BBR): keeps its rate through random loss and reordering.
    Bbr,
    /// Loss-based (CUBIC, RFC 9438).
    Cubic,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            datagram_size: 1350,
            max_datagram_size: MAX_DATAGRAM_SIZE,
            // Every idle session costs the gateway one keepalive and its acknowledgement per
            // interval: 3 s keeps 1,000 idle sessions under 10 ms of CPU a second. The
            // idle timeout spans three keepalives and room for lost ones on a slow path.
            // A killed agent still turns into a 502 within 5 s: the gateway watches a
            // session that holds requests on its own (docs/transport.md, "Liveness").
            keepalive_interval: Duration::from_secs(3),
            idle_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            dtls_flight_interval: Duration::from_millis(200),
            stream_receive_window: 4 * 1024 * 1024,
            session_receive_window: 32 * 1024 * 1024,
            max_concurrent_streams: 1024,
            congestion: Congestion::Bbr,
            replay_window: 1024,
            stream_packet_size: DEFAULT_STREAM_PACKET,
            stream_send_queue_bytes: 4 * 1024 * 1024,
        }
    }
}

impl TransportConfig {
    /// Checks the values against each other and the protocol's floors.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !(MIN_DATAGRAM_SIZE..=MAX_DATAGRAM_SIZE).contains(&self.datagram_size) {
            return Err(ConfigError::new(
                "datagram_size",
                format!(
                    "{} is outside {MIN_DATAGRAM_SIZE}..={MAX_DATAGRAM_SIZE} (a QUIC packet needs 1,200 bytes plus {DTLS_RECORD_OVERHEAD} of DTLS, and one DTLS record carries at most {MAX_RECORD_PLAINTEXT})",
                    self.datagram_size
                ),
            ));
        }
        if !(self.datagram_size..=MAX_DATAGRAM_SIZE).contains(&self.max_datagram_size) {
            return Err(ConfigError::new(
                "max_datagram_size",
                format!(
                    "{} is outside {}..={MAX_DATAGRAM_SIZE} (no smaller than datagram_size, no larger than one DTLS record)",
                    self.max_datagram_size, self.datagram_size
                ),
            ));
        }
        if self.keepalive_interval.is_zero() || self.keepalive_interval >= self.idle_timeout {
            return Err(ConfigError::new(
                "keepalive_interval",
                "must be non-zero and shorter than idle_timeout",
            ));
        }
        if self.handshake_timeout.is_zero() {
            return Err(ConfigError::new("handshake_timeout", "must be non-zero"));
        }
        if self.stream_receive_window < 16 * 1024
            || self.session_receive_window < self.stream_receive_window
        {
            return Err(ConfigError::new(
                "stream_receive_window",
                "must be at least 16 KiB and no larger than session_receive_window",
            ));
        }
        if self.max_concurrent_streams == 0 {
            return Err(ConfigError::new(
                "max_concurrent_streams",
                "must be at least 1",
            ));
        }
        if self.replay_window < 64 {
            return Err(ConfigError::new(
                "replay_window",
                "must be at least 64 records",
            ));
        }
        if !(MIN_QUIC_PACKET as u16..=MAX_STREAM_PACKET).contains(&self.stream_packet_size) {
            return Err(ConfigError::new(
                "stream_packet_size",
                format!("must be within {MIN_QUIC_PACKET}..={MAX_STREAM_PACKET}"),
            ));
        }
        if self.stream_send_queue_bytes < 4 * usize::from(self.stream_packet_size) {
            return Err(ConfigError::new(
                "stream_send_queue_bytes",
                "must hold at least four packets of stream_packet_size",
            ));
        }
        Ok(())
    }

    /// The QUIC packet a session starts with: one DTLS record within `datagram_size`.
    pub(crate) fn quic_packet_size(&self) -> u16 {
        quic_packet_within(self.datagram_size)
    }

    /// The largest QUIC packet path-MTU discovery may try: one DTLS record within
    /// `max_datagram_size`.
    pub(crate) fn max_quic_packet_size(&self) -> u16 {
        quic_packet_within(self.max_datagram_size)
    }
}

/// The QUIC packet that one DTLS record in a `datagram`-byte UDP payload carries.
fn quic_packet_within(datagram: usize) -> u16 {
    u16::try_from(datagram.saturating_sub(DTLS_RECORD_OVERHEAD)).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_fits_ethernet() {
        let config = TransportConfig::default();
        config.validate().unwrap();
        assert!(config.datagram_size + 48 <= 1500);
        assert!(usize::from(config.quic_packet_size()) >= MIN_QUIC_PACKET);
        assert_eq!(
            usize::from(config.max_quic_packet_size()),
            MAX_RECORD_PLAINTEXT
        );
    }

    #[test]
    fn rejects_datagrams_too_small_for_quic() {
        let config = TransportConfig {
            datagram_size: 1200,
            ..Default::default()
        };
        let err = config.validate().unwrap_err();
        assert_eq!(err.field, "datagram_size");
    }

    #[test]
    fn rejects_a_ceiling_below_the_start_or_beyond_one_record() {
        for max_datagram_size in [1349, MAX_DATAGRAM_SIZE + 1] {
            let config = TransportConfig {
                max_datagram_size,
                ..Default::default()
            };
            assert_eq!(config.validate().unwrap_err().field, "max_datagram_size");
        }
        let discovery_off = TransportConfig {
            max_datagram_size: 1350,
            ..Default::default()
        };
        discovery_off.validate().unwrap();
    }

    #[test]
    fn rejects_keepalive_not_below_idle_timeout() {
        let config = TransportConfig {
            keepalive_interval: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(10),
            ..Default::default()
        };
        assert_eq!(config.validate().unwrap_err().field, "keepalive_interval");
    }
}
