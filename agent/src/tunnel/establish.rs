//! Getting one session: dial the gateway (a fresh UDP socket, or a fresh TCP connection,
//! each time: a load balancer in front of several pods may send it to any of them), open
//! the control stream and say hello; the gateway's answer says whether it serves, what it
//! did (joined a pool, replaced an agent) and which pod answered.

use std::time::{Duration, Instant};

use hopgate_protocol::{Hello, HelloAck, SessionRef};
use hopgate_transport::Carrier;

use super::Tunnel;
use crate::{
    config::TransportMode,
    control::{Control, HelloError},
    dial::{DialError, Dialed, dial},
};

/// Getting a session failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum EstablishError {
    #[error("{0}")]
    Dial(#[from] DialError),
    #[error("{0}")]
    Hello(#[from] HelloError),
    #[error("refused ({})", .0.code)]
    Refused(HelloAck),
    /// A UDP probe got no accepted session within the UDP timeout.
    #[error("udp did not answer within {} ms", .0.as_millis())]
    UdpTimedOut(Duration),
}

/// A session whose hello the gateway accepted.
pub(super) struct Established {
    pub(super) dialed: Dialed,
    pub(super) control: Control,
    /// From dialing to the accepted hello.
    pub(super) ready_in: Duration,
    pub(super) ack: HelloAck,
}

impl Established {
    pub(super) fn carrier(&self) -> Carrier {
        self.dialed.carrier()
    }

    /// `127.0.0.1:4433 over udp`, or `gw.example.com:443 (203.0.113.7:443) over tcp (udp
    /// did not answer within 3 s)` for a name.
    pub(super) fn peer(&self) -> String {
        let dialed = &self.dialed;
        let addr = dialed.addr;
        let peer = if dialed.server.host().parse::<std::net::IpAddr>().is_ok() {
            addr.to_string()
        } else {
            format!("{} ({addr})", dialed.server)
        };
        let over = dialed.carrier().as_str();
        match &dialed.fell_back {
            Some(why) => format!("{peer} over {over} ({why})"),
            None => format!("{peer} over {over}"),
        }
    }
}

/// Dials over `mode` and says hello as `agent_id`, the id every session of this tunnel
/// shares, naming the tunnel's `silent` sessions this one replaces.
pub(super) async fn establish(
    tunnel: &Tunnel,
    agent_id: &str,
    mode: TransportMode,
    silent: Vec<SessionRef>,
) -> Result<Established, EstablishError> {
    let started = Instant::now();
    let dialed = dial(
        &tunnel.server,
        &tunnel.transport,
        mode,
        &tunnel.client_config,
    )
    .await?;
    let session = &dialed.session;
    let hello = Hello::new(
        tunnel.settings.domain.clone(),
        tunnel.settings.api_key.expose(),
        env!("CARGO_PKG_VERSION"),
    )
    .joining_pool(tunnel.settings.pool)
    .from_agent(agent_id)
    .replacing_silent(silent);
    let (control, ack) = match Control::hello(session, hello).await {
        Ok(answer) => answer,
        Err(err) => {
            session.close("hello failed");
            return Err(err.into());
        }
    };
    if !ack.ok {
        session.close("hello refused");
        return Err(EstablishError::Refused(ack));
    }
    Ok(Established {
        dialed,
        control,
        ready_in: started.elapsed(),
        ack,
    })
}
