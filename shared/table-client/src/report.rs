//! The pod's session report: which domains have a live agent session on this pod. Pods
//! send it whenever the set changes and every
//! [`REPORT_INTERVAL`](hopgate_table::REPORT_INTERVAL); the control-plane forgets a pod
//! after [`REPORT_TTL`](hopgate_table::REPORT_TTL) without one.

use hopgate_table::{MSGPACK_CONTENT_TYPE, SessionReport, valid_pod_id};
use reqwest::{StatusCode, Url};

/// Why a report wasn't accepted.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("control-plane URL '{0}' is not valid")]
    BadUrl(String),
    #[error("pod id must be 1-128 characters of [A-Za-z0-9._-]")]
    BadPodId,
    #[error("the control-plane refused the internal token (401 Unauthorized)")]
    Unauthorized,
    #[error("the control-plane answered {0}")]
    Status(StatusCode),
    #[error("cannot reach the control-plane: {0}")]
    Http(#[from] reqwest::Error),
    #[error("report could not be encoded: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
}

/// `POST {control_plane_url}/internal/v1/pods/{pod_id}/sessions` with the full list of
/// domains that have a live session on this pod and the pod's relay URL (MessagePack).
pub async fn report_sessions(
    client: &reqwest::Client,
    control_plane_url: &str,
    token: &str,
    pod_id: &str,
    report: &SessionReport,
) -> Result<(), ReportError> {
    if !valid_pod_id(pod_id) {
        return Err(ReportError::BadPodId);
    }
    let base = control_plane_url.trim_end_matches('/');
    let url = Url::parse(&format!("{base}/internal/v1/pods/{pod_id}/sessions"))
        .map_err(|_| ReportError::BadUrl(control_plane_url.to_owned()))?;
    let body = rmp_serde::to_vec_named(report)?;
    let response = client
        .post(url)
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, MSGPACK_CONTENT_TYPE)
        .body(body)
        .send()
        .await?;
    match response.status() {
        s if s.is_success() => Ok(()),
        StatusCode::UNAUTHORIZED => Err(ReportError::Unauthorized),
        s => Err(ReportError::Status(s)),
    }
}
