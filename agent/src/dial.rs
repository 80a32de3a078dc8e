//! Dialing the gateway: DTLS over UDP, TLS over TCP to its HTTPS port, or (`auto`) DTLS
//! first and TCP when no UDP session comes within the UDP timeout — corporate networks and
//! CI runners often drop outbound UDP.

use std::net::SocketAddr;

use hopgate_transport::{Carrier, ClientConfig, ConnectError, Session};

use crate::config::{ServerAddr, TransportChoice, TransportMode};

/// A session, where it goes, and why it runs over what it runs over.
pub(crate) struct Dialed {
    pub(crate) session: Session,
    /// The gateway address dialed (UDP or TCP).
    pub(crate) addr: SocketAddr,
    /// The address as configured, for the status line.
    pub(crate) server: ServerAddr,
    /// Why TCP was used on `auto` (UDP didn't answer, or failed).
    pub(crate) fell_back: Option<String>,
}

impl Dialed {
    pub(crate) fn carrier(&self) -> Carrier {
        self.session.carrier()
    }
}

/// Why no session could be had.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DialError {
    #[error("cannot resolve {server}: {reason}")]
    Resolve { server: String, reason: String },
    #[error("{0}")]
    Connect(#[from] ConnectError),
    #[error("udp: {udp}; tcp: {tcp}")]
    Both { udp: String, tcp: ConnectError },
}

/// Dials over `mode` (the configured one, or what the tunnel's footing says: TCP straight
/// away while `auto` is on TCP, UDP for a probe), with `choice`'s addresses and timeout.
pub(crate) async fn dial(
    udp_server: &ServerAddr,
    choice: &TransportChoice,
    mode: TransportMode,
    config: &ClientConfig,
) -> Result<Dialed, DialError> {
    let over_udp = async {
        let addr = resolve(udp_server).await?;
        Ok::<_, DialError>((addr, hopgate_transport::connect(addr, config).await?))
    };
    let over_tcp = |fell_back: Option<String>| async move {
        let addr = resolve(&choice.tcp_server).await?;
        let session = hopgate_transport::connect_tcp(addr, config).await?;
        Ok::<_, DialError>(Dialed {
            session,
            addr,
            server: choice.tcp_server.clone(),
            fell_back,
        })
    };
    let udp_dialed = |(addr, session)| Dialed {
        session,
        addr,
        server: udp_server.clone(),
        fell_back: None,
    };
    match mode {
        TransportMode::Udp => over_udp.await.map(udp_dialed),
        TransportMode::Tcp => over_tcp(None).await,
        TransportMode::Auto => {
            let started = std::time::Instant::now();
            let why = match tokio::time::timeout(choice.udp_timeout, over_udp).await {
                Ok(Ok(dialed)) => return Ok(udp_dialed(dialed)),
                Ok(Err(DialError::Connect(err))) if err.is_unanswered() => {
                    format!("udp did not answer within {}", seconds(started.elapsed()))
                }
                Ok(Err(err)) => format!("udp failed: {err}"),
                Err(_) => format!("udp did not answer within {}", seconds(choice.udp_timeout)),
            };
            over_tcp(Some(why.clone())).await.map_err(|err| match err {
                DialError::Connect(tcp) => DialError::Both { udp: why, tcp },
                other => other,
            })
        }
    }
}

/// `3 s`, `0.5 s`, `1.7 s`: to a tenth of a second.
pub(crate) fn seconds(duration: std::time::Duration) -> String {
    let tenths = (duration.as_millis() + 50) / 100;
    match tenths % 10 {
        0 => format!("{} s", tenths / 10),
        tenth => format!("{}.{tenth} s", tenths / 10),
    }
}

/// The gateway's address now (a name may move). IPv4 first: that is where gateways listen
/// unless told otherwise, and `localhost` often resolves to `::1` first.
async fn resolve(server: &ServerAddr) -> Result<SocketAddr, DialError> {
    let failed = |reason: String| DialError::Resolve {
        server: server.to_string(),
        reason,
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((server.host(), server.port()))
        .await
        .map_err(|e| failed(e.to_string()))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| failed("no address".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_read_naturally() {
        assert_eq!(seconds(std::time::Duration::from_secs(3)), "3 s");
        assert_eq!(seconds(std::time::Duration::from_millis(500)), "0.5 s");
        assert_eq!(seconds(std::time::Duration::from_millis(1704)), "1.7 s");
        assert_eq!(seconds(std::time::Duration::from_millis(2999)), "3 s");
    }
}
