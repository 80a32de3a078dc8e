//! HopGate's agent: runs next to a local HTTP service, dials the gateway's data-plane over
//! the DTLS stream transport (or, where UDP is blocked, TLS over TCP to its HTTPS port), proves with the domain's API key that it may serve the
//! domain, and then answers every visitor request the gateway sends it by calling the local
//! service, streaming both ways.
//!
//! # Layout
//!
//! | module | concern |
//! | --- | --- |
//! | [`config`] | settings from flags > `HOP_CLIENT_*` environment > TOML file (`hopgate-settings`); `validate()` |
//! | `tunnel` | one tunnel's sessions: `ha_connections` of them on distinct pods, each connected, said hello, served, replaced after a loss (with backoff, `hopgate-backoff`, when none serves) |
//! | `dial` | what carries a session: DTLS, TLS over TCP to the HTTPS port, or DTLS then TCP (`auto`) |
//! | `control` | the control stream: hello, pings, go-away (the gateway's, and the agent's `leaving`) |
//! | `forward` | one request stream: the local call and the response streamed back |
//! | `body` | the streamed request body fed from the gateway's frames |
//! | `headers` | header conversion, hop-by-hop stripping, cookie joining, the local `Host` |
//! | `upstream` | the clients of the local service (pooled HTTP/1.1, a tunnel's h2c) and their errors |
//! | `metrics` | Prometheus metrics (the process's, each tunnel's sessions) and the optional `/metrics` listener |
//! | `inspector` | the request inspector: captured exchanges, their web page and JSON API, replay |
//!
//! [`run`] serves the tunnels of validated [`Settings`] until a shutdown future resolves;
//! `main.rs` only parses, validates and maps the outcome to an exit status.
//!
//! # Output
//!
//! JSON log lines on stdout (`hopgate-logging`; level from `HOP_LOG_LEVEL`, default `info`;
//! the transport's and quinn's events included), with `domain`, `session_id` (the tunnel's
//! session count) and `request_id` (the gateway's, so one request can be followed through
//! pod and agent). And a short human status, one
//! line per event on stderr: `connected to ADDR over udp|tcp [(why tcp)] (session ready in
//! N ms); forwarding https://DOMAIN -> TARGET[; on pods POD, POD (2 of 2 wanted)]` once per
//! session kept, `DOMAIN: serving on 1 pod of 2 wanted: …` when no second pod could be
//! reached, `reconnecting in N s: DOMAIN: REASON`, `gateway refused DOMAIN: MESSAGE`, and
//! one line per failed request (every request with `--verbose`). The API key never appears: it is a
//! [`hopgate_settings::Secret`], which prints `***`.

#![warn(missing_docs)]

mod body;
pub mod config;
mod control;
mod dial;
mod forward;
mod headers;
mod inspector;
mod metrics;
mod tunnel;
mod upstream;

use std::{collections::HashMap, future::Future, sync::Arc, time::Duration};

use hopgate_protocol::HelloCode;
use hopgate_settings::SettingsError;
use tokio::{sync::watch, task::JoinSet};

pub use crate::config::Settings;
use crate::{forward::Forwarder, inspector::Inspector, tunnel::Tunnel};

/// How long stopping may take: sessions are closed and the close sent to the gateway.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// Why the agent stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The settings can't be used (e.g. no system root certificates to verify with).
    #[error(transparent)]
    Config(#[from] SettingsError),
    /// The gateway refused a tunnel for a reason retrying won't fix.
    #[error("gateway refused {domain}: {message} ({code}; not retrying: {hint})")]
    Refused {
        /// The tunnel's domain.
        domain: String,
        /// The gateway's explanation.
        message: String,
        /// The gateway's code.
        code: HelloCode,
        /// What the user should do.
        hint: &'static str,
    },
    /// Another agent connected for the same domain and the gateway gave it the domain.
    #[error(
        "another agent connected for {domain} and the gateway handed the domain to it \
         ({reason}); this agent stops serving it (run one agent per domain, or start every \
         agent of the domain with --pool)"
    )]
    Replaced {
        /// The tunnel's domain.
        domain: String,
        /// What the gateway said.
        reason: String,
    },
    /// A tunnel's task failed unexpectedly.
    #[error("internal error: {0}")]
    Internal(String),
}

impl RunError {
    /// The process exit status for this error: 2 for configuration problems (including a
    /// refused key or domain), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_) | Self::Refused { .. } => 2,
            Self::Replaced { .. } | Self::Internal(_) => 1,
        }
    }
}

/// Serves every tunnel of `settings` (each on `ha_connections` sessions) until `shutdown` resolves (then
/// closes the sessions, telling the gateway) or a tunnel is refused for good.
pub async fn run(settings: Settings, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    let client_config = Arc::new(settings.client_config()?);
    let http1 = upstream::http1_client();
    let log = hopgate_logging::root("agent", settings.log_level);
    let metrics = Arc::new(metrics::Metrics::new());
    let mut serving_metrics = None;
    if let Some(addr) = settings.metrics_listen {
        let listener = metrics::bind(addr)
            .await
            .map_err(|e| SettingsError::Invalid {
                setting: "metrics_listen".to_owned(),
                reason: format!("cannot listen on {addr}: {e}"),
            })?;
        serving_metrics = Some(AbortOnDrop(tokio::spawn(metrics::serve(
            listener,
            metrics.clone(),
            log.clone(),
        ))));
    }
    let inspector = match &settings.inspector {
        Some(inspect) => Inspector::bind(inspect, &metrics, &log).await,
        None => None,
    };
    let mut forwarders = HashMap::new();
    let (stop, stopped) = watch::channel(false);
    let mut tunnels = JoinSet::new();
    for tunnel in settings.tunnels {
        let tunnel_log = log.new(slog::o!("domain" => tunnel.domain.clone()));
        let forwarder = Arc::new(Forwarder::new(
            http1.clone(),
            &tunnel,
            settings.response_timeout,
            settings.verbose,
            metrics.clone(),
            inspector.as_ref().map(|i| i.recorder(&tunnel.domain)),
            tunnel_log.clone(),
        ));
        forwarders.insert(tunnel.domain.clone(), forwarder.clone());
        let tunnel = Tunnel {
            metrics: metrics.tunnel(&tunnel.domain),
            log: tunnel_log,
            settings: tunnel,
            server: settings.server.clone(),
            transport: settings.transport.clone(),
            client_config: client_config.clone(),
            forwarder,
        };
        tunnels.spawn(tunnel.run(stopped.clone()));
    }
    let inspecting = inspector.map(|i| AbortOnDrop(i.serve(forwarders, &log)));
    let result = tokio::select! {
        () = shutdown => Ok(()),
        Some(joined) = tunnels.join_next() => match joined {
            Ok(result) => result,
            Err(err) => Err(RunError::Internal(err.to_string())),
        },
    };
    let _ = stop.send(true);
    let _ = tokio::time::timeout(STOP_GRACE, async {
        while tunnels.join_next().await.is_some() {}
        // The transport sends its close a moment after `close()`.
        tokio::time::sleep(Duration::from_millis(100)).await;
    })
    .await;
    drop(serving_metrics);
    drop(inspecting);
    result
}

/// Stops a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
