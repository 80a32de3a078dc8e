//! The agents' side: accepts their sessions (over DTLS, or TLS over TCP), checks each
//! one's hello against the routing table, admits every agent that proves its domain to the
//! domain's sessions (replacing the live one, or joining its pool: [`crate::tunnel::pool`])
//! and starts its session actor. The hello's answer says which happened, and the agents
//! replaced are told why.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use actix::{AsyncContext, Context};
use hopgate_protocol::Hello;
use hopgate_protocol::{HelloAck, HelloCode, Limits, PROTOCOL_VERSION, check_version};
use hopgate_transport::{Listener, RecvStream, SendStream, Session};
use hopgate_tunnel::{FrameReader, FrameWriter, answer_hello, read_hello};
use slog::{Logger, info, o, warn};

use crate::{
    ops::metrics::{Handshake, Metrics},
    table::control_plane::TableStatus,
    tunnel::{
        pool::{Load, SessionHandle},
        routing::{Admitted, RoutingTable},
        session_actor::{Admission, AgentLeaving, Replaced, SessionActor},
    },
};

/// How agents are admitted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AcceptSettings {
    /// How long a session may take to send its hello.
    pub(crate) hello_timeout: Duration,
    /// The most pooled sessions one domain may hold on this pod.
    pub(crate) pool_cap: usize,
    /// How long a session its agent said is leaving may take to finish its requests.
    pub(crate) leaving_drain: Duration,
    /// How long an agent may go unheard while requests wait on its session.
    pub(crate) agent_unheard_after: Duration,
}

/// What every admission shares.
#[derive(Clone)]
struct Shared {
    settings: AcceptSettings,
    /// This pod's name, told to every agent in the hello's answer.
    pod: Arc<str>,
    table: Arc<RoutingTable>,
    status: Arc<TableStatus>,
    metrics: Arc<Metrics>,
}

/// Accepts sessions until the listener closes. Each must send its hello within
/// `settings.hello_timeout`.
pub(crate) async fn accept(
    listener: Arc<Listener>,
    settings: AcceptSettings,
    pod: Arc<str>,
    table: Arc<RoutingTable>,
    status: Arc<TableStatus>,
    metrics: Arc<Metrics>,
    log: Logger,
) {
    let shared = Shared {
        settings,
        pod,
        table,
        status,
        metrics,
    };
    let ids = Arc::new(AtomicU64::new(1));
    while let Some(session) = listener.accept().await {
        let id = ids.fetch_add(1, Ordering::Relaxed);
        let log = log.new(
            o!("session_id" => id, "remote" => session.remote_addr().to_string(),
            "transport" => session.carrier().as_str()),
        );
        actix::spawn(admit(session, id, shared.clone(), log));
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
    let writer = FrameWriter::for_small_frames(send, Limits::default());
    let mut reader = FrameReader::for_small_frames(recv, Limits::default());
    let hello = read_hello(&mut reader)
        .await
        .map_err(|err| NoHello::Bad(err.to_string()))?;
    Ok(((writer, reader), hello))
}

/// Waits for the session's hello; `None` (the session closed, and counted) if none came.
async fn hello_of(
    session: &Session,
    hello_timeout: Duration,
    metrics: &Metrics,
    log: &Logger,
) -> Option<(Control, Hello)> {
    // Until the hello is accepted the session may hold one stream and a small window
    // (the transport's pre-hello limits), and only for this long.
    match tokio::time::timeout(hello_timeout, read_control_hello(session)).await {
        Ok(Ok(control_and_hello)) => Some(control_and_hello),
        Ok(Err(NoHello::Ended(reason))) => {
            info!(log, "session ended before its hello"; "reason" => reason);
            metrics.handshake(Handshake::Failed);
            None
        }
        Ok(Err(NoHello::Bad(err))) => {
            warn!(log, "bad hello; closing the session"; "error" => &err);
            session.close(&format!("bad hello: {err}"));
            metrics.handshake(Handshake::BadHello);
            None
        }
        Err(_) => {
            warn!(log, "no hello in time; closing"; "timeout" => ?hello_timeout);
            session.close(&format!("no hello within {hello_timeout:?}"));
            metrics.rejected("hello_timeout");
            metrics.handshake(Handshake::Failed);
            None
        }
    }
}

/// Whether `hello` may serve `domain` here: its version, the pod not draining, its key.
fn check_hello(hello: &Hello, domain: &str, shared: &Shared) -> Result<(), (HelloCode, String)> {
    check_version(hello.protocol_version).map_err(|err| (err.hello_code(), err.to_string()))?;
    if shared.status.draining.load(Ordering::Relaxed) {
        // Retryable: the agent backs off and reaches another pod.
        return Err((
            HelloCode::Unavailable,
            "this gateway is shutting down; connect again".to_owned(),
        ));
    }
    shared
        .table
        .verify(domain, &hello.client_api_key)
        .map_err(|code| {
            let message = match code {
                HelloCode::UnknownDomain => {
                    format!("domain {domain} is not registered on this gateway")
                }
                _ => format!("wrong API key for {domain}"),
            };
            (code, message)
        })
}

/// Runs the hello; on success hands the session to a new [`SessionActor`].
async fn admit(session: Session, id: u64, shared: Shared, log: Logger) {
    let metrics = shared.metrics.clone();
    let Some(((mut writer, reader), hello)) =
        hello_of(&session, shared.settings.hello_timeout, &metrics, &log).await
    else {
        return;
    };
    let domain = crate::host::normalize(&hello.domain).unwrap_or_default();
    let agent_id: Option<Arc<str>> = hello.valid_agent_id().map(Arc::from);
    let log = log.new(o!("domain" => domain.clone(),
        "agent_version" => hello.agent_version.clone(), "pool" => hello.pool,
        "agent_id" => agent_id.as_deref().map(str::to_owned)));
    let load = Load::default();
    // The actor's address exists before the actor: the table holds it from the hello on,
    // so the pool's cap and the replacement are decided at once, and the answer says so.
    let ctx = Context::<SessionActor>::new();
    let admitted = check_hello(&hello, &domain, &shared).and_then(|()| {
        let handle = SessionHandle {
            id,
            domain: domain.clone(),
            session: session.clone(),
            actor: ctx.address(),
            pooled: hello.pool,
            agent_id,
            since: std::time::SystemTime::now(),
            load: load.clone(),
        };
        let cap = shared.settings.pool_cap;
        shared.table.register(&domain, handle, cap).map_err(|full| {
            let message = format!(
                "{full} ({domain}, HOP_SERVER_MAX_POOL_SESSIONS); stop an agent of the pool \
                 or raise the cap"
            );
            (HelloCode::PoolFull, message)
        })
    });
    let ack = match &admitted {
        Ok(admitted) => HelloAck {
            message: admission_text(admitted, hello.pool, &domain),
            ..HelloAck::accepted(domain.clone(), PROTOCOL_VERSION)
        }
        .with_session(id),
        Err((code, message)) => HelloAck::rejected(*code, message.clone(), domain.clone()),
    }
    .from_pod(&*shared.pod);
    let answered = answer_hello(&mut writer, ack).await;
    match admitted {
        Ok(admitted) => {
            for old in admitted.replaced {
                old.actor.do_send(Replaced {
                    by_pool: hello.pool,
                    metrics: metrics.clone(),
                });
            }
            if let Err(err) = answered {
                info!(log, "agent left during the hello"; "error" => %err);
                metrics.handshake(Handshake::Failed);
                shared.table.deregister(&domain, id);
                session.close("the hello's answer could not be written");
                return;
            }
            info!(log, "agent admitted"; "serving" => admitted.serving, "own" => admitted.own);
            retire_silent(&hello, hello.valid_agent_id(), &domain, id, &shared, &log);
            session.lift_pre_hello_limits();
            metrics.handshake(Handshake::Ok);
            let table = shared.table.clone();
            let control = (writer, reader);
            let admission = Admission {
                id,
                domain,
                session,
                table,
                control,
                load,
                leaving_drain: shared.settings.leaving_drain,
                agent_unheard_after: shared.settings.agent_unheard_after,
                metrics: metrics.clone(),
                log,
            };
            SessionActor::start(ctx, admission);
        }
        Err((code, message)) => {
            metrics.handshake(match code {
                HelloCode::BadKey => Handshake::BadKey,
                HelloCode::UnknownDomain => Handshake::UnknownDomain,
                HelloCode::UnsupportedVersion => Handshake::BadVersion,
                HelloCode::Unavailable => Handshake::Unavailable,
                HelloCode::PoolFull => Handshake::PoolFull,
                _ => Handshake::Failed,
            });
            warn!(log, "hello refused"; "code" => code.as_str(), "reason" => &message);
            if answered.is_err() {
                session.close(&message);
                return;
            }
            // Let the answer reach the agent before the session goes.
            let _ = writer.get_mut().finish();
            tokio::time::sleep(Duration::from_millis(200)).await;
            session.close(&message);
        }
    }
}

/// What the agent is told it now does for `domain` (shown on its `connected` line).
fn admission_text(admitted: &Admitted, pooled: bool, domain: &str) -> String {
    let replaced = admitted.replaced.len();
    if admitted.own > 0 && replaced == 0 {
        return format!(
            "joined this agent's other sessions for {domain}; its sessions on this gateway: {}",
            admitted.own + 1
        );
    }
    match (pooled, replaced) {
        (true, 0) => format!(
            "joined the pool for {domain}; agents in it on this gateway: {}",
            admitted.serving
        ),
        (true, _) => format!(
            "replaced the agent for {domain} that was not started with --pool; the pool \
             starts with this agent"
        ),
        (false, 0) => String::new(),
        (false, 1) if !admitted.replaced[0].pooled => {
            format!("replaced the previous agent for {domain}")
        }
        (false, n) => format!(
            "replaced the pool of {n} agents for {domain} (this agent was not started with \
             --pool)"
        ),
    }
}

/// The sessions of the same agent on this pod that its hello names as silent (the agent
/// replaces them with this one) get no new request and close once theirs are over, as if
/// they had said `leaving`: the agent can't tell the pod over a path that went silent.
fn retire_silent(
    hello: &Hello,
    agent_id: Option<&str>,
    domain: &str,
    id: u64,
    shared: &Shared,
    log: &Logger,
) {
    let Some(agent_id) = agent_id else { return };
    for named in hello.silent_on(&shared.pod) {
        let Some(old) = shared.table.session(domain, named) else {
            continue;
        };
        if old.id != id && old.agent_id.as_deref() == Some(agent_id) {
            info!(log, "the agent's session went silent; it leaves"; "silent_session" => named);
            old.actor.do_send(AgentLeaving);
        }
    }
}
