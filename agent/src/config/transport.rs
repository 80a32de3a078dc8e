//! What carries the agent's sessions: `transport` (`auto`, `udp`, `tcp`), the gateway's TCP
//! address when it differs from the UDP one, how long `auto` waits for DTLS before it
//! falls back to TLS over TCP, when `auto` moves a live tunnel to TCP (its UDP sessions
//! unheard for `udp_silence_ms`) and how often it then tries UDP again (`udp_probe_*_ms`),
//! and how many sessions each tunnel keeps on distinct pods (`ha_connections`).

use std::{net::IpAddr, ops::RangeInclusive, time::Duration};

use super::ServerAddr;

/// How long `auto` gives DTLS before trying TCP, unless configured.
pub const DEFAULT_UDP_TIMEOUT: Duration = Duration::from_secs(3);
/// The range `udp_timeout_ms` may take.
const UDP_TIMEOUT_MS: RangeInclusive<u64> = 100..=60_000;

/// How long `auto` lets a UDP session go unheard before it moves the tunnel to TCP, unless
/// configured. The judgement never uses less than one keepalive interval (3 s) plus two
/// round trips (`tunnel::switching`): the session sends a keepalive that long after the
/// last packet it heard and the gateway acknowledges it, so a working path is never silent
/// much longer. With the 3 s keepalive that floor decides unless this is set higher.
pub const DEFAULT_UDP_SILENCE: Duration = Duration::from_millis(1500);
/// The range `udp_silence_ms` may take.
const UDP_SILENCE_MS: RangeInclusive<u64> = 500..=60_000;
/// While on TCP, the longest first wait before trying UDP again, unless configured.
pub const DEFAULT_UDP_PROBE_FIRST: Duration = Duration::from_secs(5);
/// While on TCP, the longest wait between tries of UDP, unless configured.
pub const DEFAULT_UDP_PROBE_MAX: Duration = Duration::from_secs(60);
/// The range `udp_probe_first_ms` and `udp_probe_max_ms` may take.
const UDP_PROBE_MS: RangeInclusive<u64> = 500..=3_600_000;

/// Sessions each tunnel keeps on distinct pods, unless configured.
pub const DEFAULT_HA_CONNECTIONS: usize = 2;
/// The most sessions a tunnel may keep: each costs the gateway a session, and two pods
/// already survive the loss of one.
pub const MAX_HA_CONNECTIONS: usize = 4;

/// Which transport the agent dials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportMode {
    /// DTLS first; TLS over TCP if no session comes within the UDP timeout.
    Auto,
    /// DTLS only.
    Udp,
    /// TLS over TCP only (to the gateway's HTTPS port).
    Tcp,
}

/// The transport settings, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportChoice {
    /// What to dial.
    pub mode: TransportMode,
    /// The gateway's TLS address (its HTTPS port).
    pub tcp_server: ServerAddr,
    /// How long `auto` waits for a DTLS session.
    pub udp_timeout: Duration,
    /// `auto`: a UDP session unheard this long moves the tunnel to TCP.
    pub udp_silence: Duration,
    /// `auto`, on TCP: the first wait before trying UDP again (at most this, jittered)...
    pub udp_probe_first: Duration,
    /// ...doubling up to this.
    pub udp_probe_max: Duration,
    /// Sessions each tunnel keeps, on distinct pods (1: one session, as a single pod).
    pub ha_connections: usize,
    /// The local IP sessions leave from; `None`: the routes pick.
    pub local_ip: Option<IpAddr>,
}

/// An IP address of this host to leave from: not a wildcard or multicast address.
pub(super) fn local_ip(value: Option<&str>) -> Result<Option<IpAddr>, String> {
    let Some(value) = value else { return Ok(None) };
    let ip: IpAddr = value
        .trim()
        .parse()
        .map_err(|_| format!("{value:?} is not an IP address (e.g. 192.0.2.10 or 2001:db8::10)"))?;
    if ip.is_unspecified() || ip.is_multicast() {
        return Err(format!("{ip} is not an address of this host to send from"));
    }
    Ok(Some(ip))
}

/// `auto` (the default), `udp` or `tcp`.
pub(super) fn mode(value: Option<&str>) -> Result<TransportMode, String> {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("auto") => Ok(TransportMode::Auto),
        Some("udp") => Ok(TransportMode::Udp),
        Some("tcp") => Ok(TransportMode::Tcp),
        Some(_) => Err(format!(
            "{:?} is not a transport: auto, udp or tcp",
            value.unwrap_or_default()
        )),
    }
}

/// The TLS address: given, or the UDP one (same host and port).
pub(super) fn tcp_server(value: Option<&str>, server: &ServerAddr) -> Result<ServerAddr, String> {
    value.map_or_else(|| Ok(server.clone()), ServerAddr::parse)
}

/// Milliseconds, within `range`.
fn millis(ms: u64, range: &RangeInclusive<u64>) -> Result<Duration, String> {
    if range.contains(&ms) {
        Ok(Duration::from_millis(ms))
    } else {
        Err(format!(
            "{ms} is outside {}..={} milliseconds",
            range.start(),
            range.end()
        ))
    }
}

/// `udp_timeout_ms`, within bounds.
pub(super) fn udp_timeout(ms: u64) -> Result<Duration, String> {
    millis(ms, &UDP_TIMEOUT_MS)
}

/// `udp_silence_ms`, within bounds.
pub(super) fn udp_silence(ms: u64) -> Result<Duration, String> {
    millis(ms, &UDP_SILENCE_MS)
}

/// `udp_probe_first_ms`, within bounds.
pub(super) fn udp_probe_first(ms: u64) -> Result<Duration, String> {
    millis(ms, &UDP_PROBE_MS)
}

/// `udp_probe_max_ms`, within bounds and not below the first wait.
pub(super) fn udp_probe_max(ms: u64, first: Duration) -> Result<Duration, String> {
    let max = millis(ms, &UDP_PROBE_MS)?;
    if max < first {
        return Err(format!(
            "{ms} is below udp_probe_first_ms ({} ms)",
            first.as_millis()
        ));
    }
    Ok(max)
}

/// 1 to [`MAX_HA_CONNECTIONS`].
pub(super) fn ha_connections(n: u64) -> Result<usize, String> {
    match usize::try_from(n) {
        Ok(n @ 1..=MAX_HA_CONNECTIONS) => Ok(n),
        _ => Err(format!(
            "{n} is outside 1..={MAX_HA_CONNECTIONS} (1 keeps one session; 2 survives the \
             loss of a pod)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_by_default_and_names_checked() {
        assert_eq!(mode(None).unwrap(), TransportMode::Auto);
        assert_eq!(mode(Some("TCP")).unwrap(), TransportMode::Tcp);
        assert_eq!(mode(Some("udp")).unwrap(), TransportMode::Udp);
        assert!(mode(Some("quic")).unwrap_err().contains("auto, udp or tcp"));
    }

    #[test]
    fn tcp_address_defaults_to_the_udp_one() {
        let udp = ServerAddr::parse("gw.example.com:4433").unwrap();
        assert_eq!(tcp_server(None, &udp).unwrap(), udp);
        let tcp = tcp_server(Some("gw.example.com:443"), &udp).unwrap();
        assert_eq!(tcp.port(), 443);
        assert!(tcp_server(Some("gw.example.com:x"), &udp).is_err());
    }

    #[test]
    fn ha_connections_are_bounded() {
        assert_eq!(DEFAULT_HA_CONNECTIONS, 2);
        assert_eq!(ha_connections(1).unwrap(), 1);
        assert_eq!(ha_connections(4).unwrap(), 4);
        assert!(ha_connections(0).unwrap_err().contains("outside 1..=4"));
        assert!(ha_connections(5).is_err());
        assert!(ha_connections(u64::MAX).is_err());
    }

    #[test]
    fn udp_timeout_is_checked_within_bounds() {
        assert_eq!(DEFAULT_UDP_TIMEOUT, Duration::from_secs(3));
        assert_eq!(udp_timeout(500).unwrap(), Duration::from_millis(500));
        assert!(udp_timeout(0).is_err());
        assert!(udp_timeout(600_000).is_err());
    }

    #[test]
    fn silence_and_probe_waits_are_checked() {
        assert_eq!(DEFAULT_UDP_SILENCE, Duration::from_millis(1500));
        assert_eq!(udp_silence(1500).unwrap(), DEFAULT_UDP_SILENCE);
        assert!(
            udp_silence(100)
                .unwrap_err()
                .contains("outside 500..=60000")
        );
        let first = udp_probe_first(5000).unwrap();
        assert_eq!(udp_probe_max(60_000, first).unwrap(), DEFAULT_UDP_PROBE_MAX);
        assert_eq!(udp_probe_max(5000, first).unwrap(), first);
        assert!(
            udp_probe_max(4000, first)
                .unwrap_err()
                .contains("below udp_probe_first_ms (5000 ms)")
        );
        assert!(udp_probe_first(0).is_err());
    }
}
