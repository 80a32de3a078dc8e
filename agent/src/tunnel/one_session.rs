//! One session of a tunnel, from its accepted hello to its end: it serves every request
//! stream the gateway opens and answers the control stream, in a task of its own. It ends
//! when the gateway says go-away (the session then drains in the background), when the
//! gateway says another agent took the domain over, when it is lost, or when the tunnel
//! tells it to leave: it then says `leaving` to the pod, which routes it nothing new and
//! closes it once its requests in flight are over.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use hopgate_transport::{Carrier, Session};
use tokio::{sync::oneshot, task::JoinSet};

use super::establish::Established;
use crate::{
    control::{Control, ControlEvent},
    forward::Forwarder,
};

/// After a go-away's drain period, how much longer the old session may take before the
/// agent closes it.
const DRAIN_SLACK: Duration = Duration::from_secs(2);

/// The longest a leaving session waits for the pod to close it (the pod closes it once
/// its requests are over, or at its own drain limit, 30 s by default).
const LEAVING_LIMIT: Duration = Duration::from_secs(60);

/// How a session ended.
#[derive(Debug)]
pub(super) enum SessionEnd {
    /// The gateway is restarting; the session drains in the background.
    GoAway(String),
    /// Another agent's session for this domain took over (the gateway says why).
    Replaced(String),
    /// The session or its control stream is gone.
    Lost(String),
    /// The tunnel told it to leave, and it has left.
    Left,
}

/// The tunnel's handle on a running session.
pub(super) struct Running {
    pub(super) session: Session,
    /// The pod that answered its hello, when the gateway names it.
    pub(super) pod: Option<String>,
    /// The id that pod gave it, when the gateway says.
    pub(super) id_on_pod: Option<u64>,
    pub(super) carrier: Carrier,
    /// When it was established.
    pub(super) up: Instant,
    leave: Option<oneshot::Sender<&'static str>>,
}

impl Running {
    /// Serves `established` in a task of `tasks`, which yields `(seq, how it ended)`.
    pub(super) fn start(
        tasks: &mut JoinSet<(u64, SessionEnd)>,
        seq: u64,
        established: Established,
        forwarder: Arc<Forwarder>,
    ) -> Self {
        let (leave, told_to_leave) = oneshot::channel();
        let session = established.dialed.session.clone();
        let carrier = established.carrier();
        let pod = established.ack.pod.clone();
        let id_on_pod = established.ack.session;
        let control = established.control;
        let serving = session.clone();
        tasks.spawn(async move {
            let end = serve(serving, control, forwarder, told_to_leave).await;
            (seq, end)
        });
        Self {
            session,
            pod,
            id_on_pod,
            carrier,
            up: Instant::now(),
            leave: Some(leave),
        }
    }

    /// Tells the session to leave (once): the pod finishes its requests, then closes it.
    pub(super) fn leave(&mut self, why: &'static str) {
        if let Some(leave) = self.leave.take() {
            let _ = leave.send(why);
        }
    }

    /// `pod-a`, or `the gateway` when it gives no name.
    pub(super) fn pod_name(&self) -> &str {
        self.pod.as_deref().unwrap_or("the gateway")
    }
}

/// Serves the session's request streams and watches its control stream.
async fn serve(
    session: Session,
    mut control: Control,
    forwarder: Arc<Forwarder>,
    mut told_to_leave: oneshot::Receiver<&'static str>,
) -> SessionEnd {
    // Ends by itself once the session is closed.
    tokio::spawn(accept_streams(session.clone(), forwarder));
    tokio::select! {
        event = control.next_event() => match event {
            ControlEvent::GoAway(go_away) if go_away.is_replaced() => {
                session.close("replaced by another agent");
                SessionEnd::Replaced(go_away.reason)
            }
            ControlEvent::GoAway(go_away) => {
                let old = session.clone();
                let until = go_away.drain() + DRAIN_SLACK;
                tokio::spawn(async move {
                    tokio::select! {
                        _ = old.closed() => {}
                        () = control.drain(until) => old.close("drained after go-away"),
                    }
                });
                SessionEnd::GoAway(go_away.reason)
            }
            ControlEvent::Ended(why) => {
                let why = session.close_reason().map_or(why, |e| e.to_string());
                session.close("control stream ended");
                SessionEnd::Lost(why)
            }
        },
        Ok(why) = &mut told_to_leave => {
            if control.leave(why).await.is_err() {
                session.close(why);
                return SessionEnd::Left;
            }
            tokio::select! {
                _ = session.closed() => {}
                () = control.drain(LEAVING_LIMIT) => session.close(why),
            }
            SessionEnd::Left
        }
    }
}

/// Serves every stream the gateway opens, each in its own task.
async fn accept_streams(session: Session, forwarder: Arc<Forwarder>) {
    while let Ok((send, recv)) = session.accept_stream().await {
        // Boxed: a stream's future is about 5 KiB, which an unboxed spawn copies into the
        // task and again at each change of the task's stage.
        tokio::spawn(Box::pin(forwarder.clone().serve(send, recv)));
    }
}
