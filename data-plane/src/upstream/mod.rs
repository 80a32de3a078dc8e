//! Where an admitted request goes: the agent's session on this pod, or the other pods that
//! hold it. The edge (and the relay listener) hand a request over with
//! [`forward`] and an [`Upstream`] without knowing which kind it is; each kind gives back
//! an [`Answer`] (the agent's response head and its body: bytes, then trailer fields) or a
//! [`Failure`], and one response builder (`response`) turns every answer into the
//! visitor's response, so statuses, headers, bodies, trailers and WebSocket switches are
//! handled alike whichever pod holds the session.
//!
//! - `session`: the agent's session on this pod, through a request actor; `retry` tries a
//!   request whose session died once more on another of the domain's sessions;
//! - [`cross_pod::client`](crate::cross_pod::client): the pods that hold it, over HTTP;
//! - `response`: the one response builder, and `answer_body` the visitor's response body it
//!   makes of an answer's;
//! - `failure`: why no answer came, and the page the visitor gets for it.

mod answer_body;
mod failure;
mod response;
mod retry;
mod session;

use std::{
    io,
    pin::Pin,
    sync::{Arc, atomic::AtomicU64},
    time::Duration,
};

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use bytes::Bytes;
use futures_util::Stream;
use hopgate_protocol::{Header, RequestHead, ResponseHead};
use slog::Logger;

pub(crate) use self::failure::Failure;
use crate::{
    cross_pod,
    http::{limits::RequestCaps, pages, request},
    ops::{in_flight::InFlight, metrics::Metrics},
    tunnel::routing::{Picked, RelayTargets, Route, RoutingTable},
};

/// Shared by every request handler.
pub(crate) struct AppState {
    pub(crate) table: Arc<RoutingTable>,
    pub(crate) response_timeout: Duration,
    /// How long a request waits for a free stream on the agent's session.
    pub(crate) stream_wait: Duration,
    /// How long an ordinary request's body may make no progress.
    pub(crate) body_timeout: Duration,
    /// Requests in flight per domain and per client.
    pub(crate) caps: Arc<RequestCaps>,
    pub(crate) in_flight: Arc<InFlight>,
    /// Requests relayed to another pod (`hopgate_relayed_requests_total`).
    pub(crate) relayed: Arc<AtomicU64>,
    pub(crate) metrics: Arc<Metrics>,
    /// The gateway's own domain (`HOP_SERVER_DOMAIN`), normalized.
    pub(crate) main_domain: String,
    pub(crate) log: Logger,
}

/// Where a request's answer comes from.
pub(crate) enum Upstream {
    /// An agent's session on this pod (the least loaded of the domain's).
    Session {
        picked: Picked,
        /// The request was relayed here by another pod: a retry stays on this pod.
        relayed: bool,
    },
    /// The other pods holding the agent's session (relay URLs, in a stable order).
    Pods(RelayTargets),
}

/// Why a host has no upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotLive {
    /// Nobody registered the domain.
    Unknown,
    /// Registered, but no agent is connected for it.
    Offline,
}

impl Upstream {
    /// The upstream of a visitor's request for `host`: the session here, else other pods.
    pub(crate) fn for_visitor(table: &RoutingTable, host: &str) -> Result<Self, NotLive> {
        Self::of(table.route(host), false)
    }

    /// The upstream of a request another pod relayed here: a session here only (one hop).
    pub(crate) fn for_relayed(table: &RoutingTable, host: &str) -> Result<Self, NotLive> {
        Self::of(table.route_relayed(host), true)
    }

    fn of(route: Route, relayed: bool) -> Result<Self, NotLive> {
        match route {
            Route::Live(picked) => Ok(Self::Session { picked, relayed }),
            Route::Remote(targets) => Ok(Self::Pods(targets)),
            Route::Unknown => Err(NotLive::Unknown),
            Route::Offline => Err(NotLive::Offline),
        }
    }
}

impl NotLive {
    /// The answer for a host with no upstream: 404 when nobody registered it, else 502.
    pub(crate) fn page(self, req: &HttpRequest, host: &str) -> HttpResponse {
        match self {
            Self::Unknown => pages::error(
                req,
                StatusCode::NOT_FOUND,
                "Not Found",
                &format!("{host} is not served by this gateway."),
            ),
            Self::Offline => pages::error(
                req,
                StatusCode::BAD_GATEWAY,
                "Agent offline",
                &format!("No agent is connected for {host} right now."),
            ),
        }
    }
}

/// An answer's body; it holds what must live while it is sent (the request actor, the
/// relayed request's place in flight).
pub(crate) type Body = Pin<Box<dyn Stream<Item = Result<BodyItem, io::Error>>>>;

/// What an answer's body yields: its bytes, then the trailer fields that end it, if any
/// (gRPC's `grpc-status` travels there), as the last item.
#[derive(Debug)]
pub(crate) enum BodyItem {
    Data(Bytes),
    Trailers(Vec<Header>),
}

/// What the agent answered, through whichever upstream: the response head and its body
/// (after a `101`, the bytes of the switched connection).
pub(crate) struct Answer {
    pub(crate) head: ResponseHead,
    pub(crate) body: Body,
}

/// Carries `head` (and the request's body) to `upstream` and streams the answer back to
/// the visitor of `req`, or answers with the page for what went wrong.
pub(crate) async fn forward(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    upstream: Upstream,
    host: &str,
    head: RequestHead,
) -> HttpResponse {
    let upgrade = request::websocket_upgrade(req).is_some();
    let answer = match upstream {
        Upstream::Session { picked, relayed } => {
            let failed = picked.handle.id;
            match session::exchange(req, payload, state, picked, host, head, upgrade).await {
                Err(session::Failed {
                    failure,
                    retry: Some(retry),
                }) => {
                    let again = retry::Again {
                        failed,
                        relayed,
                        upgrade,
                    };
                    retry::once(req, state, host, (failure, retry), again).await
                }
                answer => answer.map_err(|failed| failed.failure),
            }
        }
        Upstream::Pods(targets) => {
            cross_pod::client::exchange(req, payload, state, &targets, host, head, upgrade).await
        }
    };
    match answer {
        Ok(answer) => response::build(req, answer, upgrade),
        Err(failure) => failure.page(req),
    }
}
