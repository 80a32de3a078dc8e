//! One subscription attempt: open the stream with the token and the table's
//! `epoch:version` ([`Table::resume_point`](hopgate_table::Table::resume_point)), saying the
//! pod enforces access policies (`access=1`), then decode frames and apply them until the stream breaks, goes
//! silent for [`SubscriberConfig::dead_after`], or sends something that can't be applied.

use std::{
    sync::{Arc, PoisonError, atomic::Ordering},
    time::Duration,
};

use bytes::BytesMut;
use hopgate_table::{
    ACCESS_QUERY, ApplyError, DecodeError, Decoder, PLACEMENT_QUERY, TABLE_PATH, TableMessage,
    valid_pod_id,
};
use reqwest::{StatusCode, Url};

use crate::{
    persist,
    subscriber::{Event, Shared, StartError, SubscriberConfig},
};

/// Why a subscription ended (it is retried).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SubscribeError {
    #[error("the control-plane refused the internal token (401 Unauthorized)")]
    Unauthorized,
    #[error("the control-plane answered {status}: {body}")]
    Status { status: StatusCode, body: String },
    #[error("cannot reach the control-plane: {0}")]
    Http(#[from] reqwest::Error),
    #[error("no frame for {0:?}: the connection is presumed dead")]
    Dead(Duration),
    #[error("the control-plane closed the stream")]
    Closed,
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("table out of step: {0}")]
    Apply(#[from] ApplyError),
}

/// What stays the same across attempts.
pub(crate) struct Request {
    client: reqwest::Client,
    url: Url,
    pod_id: String,
    token: String,
    dead_after: Duration,
    placement: bool,
}

impl Request {
    pub(crate) fn new(config: &SubscriberConfig) -> Result<Self, StartError> {
        let url = table_url(&config.control_plane_url)?;
        if !valid_pod_id(&config.pod_id) {
            return Err(StartError::BadPodId);
        }
        let token_ok = !config.token.is_empty()
            && reqwest::header::HeaderValue::from_str(&format!("Bearer {}", config.token)).is_ok();
        if !token_ok {
            return Err(StartError::BadToken);
        }
        let mut client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .tcp_keepalive(Duration::from_secs(15));
        if let Some(ca) = &config.trusted_ca {
            client = client
                .tls_built_in_root_certs(false)
                .add_root_certificate(ca.clone());
        }
        let client = client.build()?;
        Ok(Self {
            client,
            url,
            pod_id: config.pod_id.clone(),
            token: config.token.clone(),
            dead_after: config.dead_after,
            placement: config.on_placement.is_some(),
        })
    }
}

/// `{base}/internal/v1/table`, checked.
pub(crate) fn table_url(base: &str) -> Result<Url, StartError> {
    let bad = |reason: &str| StartError::BadUrl {
        url: base.to_owned(),
        reason: reason.to_owned(),
    };
    let url = Url::parse(&format!("{}{TABLE_PATH}", base.trim_end_matches('/')))
        .map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("scheme must be http or https"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("no query or fragment allowed"));
    }
    Ok(url)
}

/// How an attempt ended.
pub(crate) struct Outcome {
    /// At least one frame was applied: the next retry starts from the shortest delay.
    pub(crate) delivered: bool,
    pub(crate) error: SubscribeError,
}

pub(crate) async fn run_once(shared: &Arc<Shared>, request: &Request) -> Outcome {
    let mut delivered = false;
    let error = match stream(shared, request, &mut delivered).await {
        Ok(never) => match never {},
        Err(e) => e,
    };
    Outcome { delivered, error }
}

async fn stream(
    shared: &Arc<Shared>,
    request: &Request,
    delivered: &mut bool,
) -> Result<std::convert::Infallible, SubscribeError> {
    let since = {
        let mut table = shared.table.lock().unwrap_or_else(PoisonError::into_inner);
        table.discard_partial();
        table.resume_point().cloned()
    };
    let mut url = request.url.clone();
    url.query_pairs_mut().append_pair("pod", &request.pod_id);
    if let Some(since) = since {
        url.query_pairs_mut()
            .append_pair("since", &since.to_string());
    }
    url.query_pairs_mut()
        .append_pair(ACCESS_QUERY.0, ACCESS_QUERY.1);
    if request.placement {
        url.query_pairs_mut()
            .append_pair(PLACEMENT_QUERY.0, PLACEMENT_QUERY.1);
    }
    let send = request.client.get(url).bearer_auth(&request.token).send();
    let mut response = tokio::time::timeout(request.dead_after, send)
        .await
        .map_err(|_| SubscribeError::Dead(request.dead_after))??;
    match response.status() {
        StatusCode::OK => {}
        StatusCode::UNAUTHORIZED => return Err(SubscribeError::Unauthorized),
        status => {
            let body = response.text().await.unwrap_or_default();
            let body = body.chars().take(200).collect();
            return Err(SubscribeError::Status { status, body });
        }
    }
    shared.connected.store(true, Ordering::Relaxed);
    shared.event(Event::Connected);
    let decoder = Decoder::default();
    let mut received = BytesMut::new();
    loop {
        let chunk = tokio::time::timeout(request.dead_after, response.chunk())
            .await
            .map_err(|_| SubscribeError::Dead(request.dead_after))??
            .ok_or(SubscribeError::Closed)?;
        received.extend_from_slice(&chunk);
        while let Some(message) = decoder.decode(&mut received)? {
            apply(shared, message).await?;
            *delivered = true;
        }
    }
}

/// Applies one message; on a change publishes the new table, calls back, and saves it.
async fn apply(shared: &Arc<Shared>, message: TableMessage) -> Result<(), ApplyError> {
    if let TableMessage::Placement(placement) = &message {
        if let Some(f) = &shared.on_placement {
            f(placement);
        }
        return Ok(());
    }
    let (view, changes) = {
        let mut table = shared.table.lock().unwrap_or_else(PoisonError::into_inner);
        let before = table.since().cloned();
        let changes = table.apply(message)?;
        if table.since() == before.as_ref() {
            return Ok(()); // heartbeat, duplicate, or part of a snapshot
        }
        (Arc::new(table.clone()), changes)
    };
    shared.view.send_replace(view.clone());
    (shared.on_change)(&view, &changes);
    if let Some(path) = shared.snapshot_path.clone() {
        let saved = tokio::task::spawn_blocking(move || persist::save(&path, &view)).await;
        let failure = match saved {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(e) => Some(e.to_string()),
        };
        if let Some(reason) = failure {
            shared.event(Event::SaveFailed(reason));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        let url = table_url("http://127.0.0.1:8082/").unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:8082/internal/v1/table");
        assert!(table_url("ftp://x").is_err());
        assert!(table_url("not a url").is_err());
        assert!(table_url("http://x/?a=b").is_err());
    }
}
