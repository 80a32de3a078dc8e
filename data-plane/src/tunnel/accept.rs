//! The agents' side: accepts their sessions (over DTLS, or TLS over TCP), checks each one's hello against the routing
//! table, and starts a session actor for every agent that proves its domain.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use hopgate_protocol::Hello;
use hopgate_protocol::{HelloAck, HelloCode, Limits, PROTOCOL_VERSION, check_version};
use hopgate_transport::{Listener, RecvStream, SendStream, Session};
use hopgate_tunnel::{FrameReader, FrameWriter, answer_hello, read_hello};
use slog::{Logger, info, o, warn};

use crate::{
    ops::metrics::{Handshake, Metrics},
    table::control_plane::TableStatus,
    tunnel::{routing::RoutingTable, session_actor::SessionActor},
};

/// Accepts sessions until the listener closes. Each must send its hello within
/// `hello_timeout`.
pub(crate) async fn accept(
    listener: Arc<Listener>,
    hello_timeout: Duration,
    table: Arc<RoutingTable>,
    status: Arc<TableStatus>,
    metrics: Arc<Metrics>,
    log: Logger,
) {
    let ids = Arc::new(AtomicU64::new(1));
    while let Some(session) = listener.accept().await {
        let id = ids.fetch_add(1, Ordering::Relaxed);
        let log = log.new(
            o!("session_id" => id, "remote" => session.remote_addr().to_string(),
            "transport" => session.carrier().as_str()),
        );
        let shared = (table.clone(), status.clone(), metrics.clone());
        actix::spawn(admit(session, id, hello_timeout, shared, log));
    }
}

/// Why a session produced no hello.
enum NoHello {
    /// It ended before opening its control stream.
    Ended(String),
    /// Its first frame was not a readable hello.
    Bad(String),
}

type Control = (FrameWriter<SendStream>, FrameReader<RecvStream>);

/// The session's control stream and the hello on it.
async fn read_control_hello(session: &Session) -> Result<(Control, Hello), NoHello> {
    let (send, recv) = session
        .accept_stream()
        .await
        .map_err(|err| NoHello::Ended(err.to_string()))?;
    let writer = FrameWriter::new(send, Limits::default());
    let mut reader = FrameReader::new(recv, Limits::default());
    let hello = read_hello(&mut reader)
        .await
        .map_err(|err| NoHello::Bad(err.to_string()))?;
    Ok(((writer, reader), hello))
}

/// Runs the hello; on success hands the session to a new [`SessionActor`].
async fn admit(
    session: Session,
    id: u64,
    hello_timeout: Duration,
    (table, status, metrics): (Arc<RoutingTable>, Arc<TableStatus>, Arc<Metrics>),
    log: Logger,
) {
    // Until the hello is accepted the session may hold one stream and a small window
    // (the transport's pre-hello limits), and only for this long.
    let ((mut writer, reader), hello) =
        match tokio::time::timeout(hello_timeout, read_control_hello(&session)).await {
            Ok(Ok(control_and_hello)) => control_and_hello,
            Ok(Err(NoHello::Ended(reason))) => {
                info!(log, "session ended before its hello"; "reason" => reason);
                metrics.handshake(Handshake::Failed);
                return;
            }
            Ok(Err(NoHello::Bad(err))) => {
                warn!(log, "bad hello; closing the session"; "error" => &err);
                session.close(&format!("bad hello: {err}"));
                metrics.handshake(Handshake::BadHello);
                return;
            }
            Err(_) => {
                warn!(log, "no hello in time; closing"; "timeout" => ?hello_timeout);
                session.close(&format!("no hello within {hello_timeout:?}"));
                metrics.rejected("hello_timeout");
                metrics.handshake(Handshake::Failed);
                return;
            }
        };
    let domain = crate::host::normalize(&hello.domain).unwrap_or_default();
    let log =
        log.new(o!("domain" => domain.clone(), "agent_version" => hello.agent_version.clone()));
    let draining = status.draining.load(Ordering::Relaxed);
    let verdict = check_version(hello.protocol_version)
        .map_err(|err| (err.hello_code(), err.to_string()))
        .and_then(|_| match draining {
            // Retryable: the agent backs off and reaches another pod.
            true => Err((
                HelloCode::Unavailable,
                "this gateway is shutting down; connect again".to_owned(),
            )),
            false => Ok(()),
        })
        .and_then(|_| {
            table
                .verify(&domain, &hello.client_api_key)
                .map_err(|code| {
                    let message = match code {
                        HelloCode::UnknownDomain => {
                            format!("domain {domain} is not registered on this gateway")
                        }
                        _ => format!("wrong API key for {domain}"),
                    };
                    (code, message)
                })
        });
    let ack = match &verdict {
        Ok(()) => HelloAck::accepted(domain.clone(), PROTOCOL_VERSION),
        Err((code, message)) => HelloAck::rejected(*code, message.clone(), domain.clone()),
    };
    if let Err(err) = answer_hello(&mut writer, ack).await {
        info!(log, "agent left during the hello"; "error" => %err);
        metrics.handshake(Handshake::Failed);
        return;
    }
    match verdict {
        Ok(()) => {
            session.lift_pre_hello_limits();
            metrics.handshake(Handshake::Ok);
            SessionActor::start(id, domain, session, table, (writer, reader), metrics, log);
        }
        Err((code, message)) => {
            metrics.handshake(match code {
                HelloCode::BadKey => Handshake::BadKey,
                HelloCode::UnknownDomain => Handshake::UnknownDomain,
                HelloCode::UnsupportedVersion => Handshake::BadVersion,
                HelloCode::Unavailable => Handshake::Unavailable,
                _ => Handshake::Failed,
            });
            warn!(log, "hello refused"; "code" => code.as_str(), "reason" => &message);
            // Let the answer reach the agent before the session goes.
            let _ = writer.get_mut().finish();
            tokio::time::sleep(Duration::from_millis(200)).await;
            session.close(&message);
        }
    }
}
