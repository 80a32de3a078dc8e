//! The JSON the API and the page show of an exchange: a summary for the list and the live
//! stream, every detail for one. Secret headers (`authorization`, `cookie`, `set-cookie`,
//! `proxy-authorization`) show as `***` unless asked for; a body is text when its kept
//! bytes are UTF-8 without control characters, otherwise binary (its size, and the kept
//! bytes in base64), and says how many bytes were not kept.

use std::time::UNIX_EPOCH;

use base64::Engine as _;
use hopgate_protocol::Header;
use serde::Serialize;

use super::capture::{BodyPrefix, Exchange};

/// Headers whose values are masked unless the secrets are asked for.
const SECRET_HEADERS: [&str; 4] = [
    "authorization",
    "cookie",
    "set-cookie",
    "proxy-authorization",
];
/// What a masked value shows.
pub(super) const MASK: &str = "***";

/// One exchange in the list.
#[derive(Debug, Serialize)]
pub(super) struct Summary<'a> {
    id: u64,
    replay_of: Option<u64>,
    domain: &'a str,
    method: &'a str,
    path: &'a str,
    status: Option<u16>,
    error: Option<&'a str>,
    /// Milliseconds since the Unix epoch.
    started_at_ms: u64,
    duration_ms: f64,
    request_bytes: u64,
    response_bytes: u64,
}

impl<'a> Summary<'a> {
    pub(super) fn of(exchange: &'a Exchange) -> Self {
        Self {
            id: exchange.id,
            replay_of: exchange.replay_of,
            domain: &exchange.domain,
            method: &exchange.request.method,
            path: &exchange.request.uri,
            status: exchange.response.status,
            error: exchange.error.as_deref(),
            started_at_ms: exchange
                .started_at
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            duration_ms: (exchange.duration.as_secs_f64() * 1e6).round() / 1e3,
            request_bytes: exchange.request_body.total(),
            response_bytes: exchange.response.body.total(),
        }
    }
}

/// One exchange, every detail.
#[derive(Debug, Serialize)]
pub(super) struct Detail<'a> {
    #[serde(flatten)]
    summary: Summary<'a>,
    http_version: &'static str,
    request_headers: Vec<(&'a str, String)>,
    request_body: BodyView,
    response_headers: Vec<(&'a str, String)>,
    response_body: BodyView,
}

impl<'a> Detail<'a> {
    pub(super) fn of(exchange: &'a Exchange, secrets: bool) -> Self {
        Self {
            summary: Summary::of(exchange),
            http_version: exchange.request.version.as_str(),
            request_headers: headers(&exchange.request.headers, secrets),
            request_body: BodyView::of(&exchange.request_body),
            response_headers: headers(&exchange.response.headers, secrets),
            response_body: BodyView::of(&exchange.response.body),
        }
    }
}

/// `[name, value]` pairs in order; values as text (bytes that aren't UTF-8 replaced).
fn headers(headers: &[Header], secrets: bool) -> Vec<(&str, String)> {
    headers
        .iter()
        .map(|h| {
            let value = match !secrets && is_secret(&h.name) {
                true => MASK.to_owned(),
                false => String::from_utf8_lossy(&h.value).into_owned(),
            };
            (&*h.name, value)
        })
        .collect()
}

pub(super) fn is_secret(name: &str) -> bool {
    SECRET_HEADERS.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// A body as shown.
#[derive(Debug, Serialize)]
pub(super) struct BodyView {
    /// The body's whole size.
    size: u64,
    /// Bytes kept.
    kept: usize,
    /// Bytes not kept (beyond the prefix).
    truncated_bytes: u64,
    binary: bool,
    /// The kept bytes, when they are text.
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    /// The kept bytes, when they are binary.
    #[serde(skip_serializing_if = "Option::is_none")]
    base64: Option<String>,
}

impl BodyView {
    fn of(body: &BodyPrefix) -> Self {
        let kept = body.kept();
        let text = as_text(kept, body.missing() > 0);
        Self {
            size: body.total(),
            kept: kept.len(),
            truncated_bytes: body.missing(),
            binary: text.is_none(),
            base64: text
                .is_none()
                .then(|| base64::engine::general_purpose::STANDARD.encode(kept)),
            text: text.map(str::to_owned),
        }
    }
}

/// `bytes` as text, if they are UTF-8 (a character cut at the end of a prefix is
/// dropped) without control characters other than tab, CR, LF and form feed.
fn as_text(bytes: &[u8], cut: bool) -> Option<&str> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) if cut && err.error_len().is_none() => {
            std::str::from_utf8(&bytes[..err.valid_up_to()]).ok()?
        }
        Err(_) => return None,
    };
    let control = |c: char| c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\x0c');
    (!text.contains(control)).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_binary_and_cut_characters() {
        assert_eq!(as_text(b"{\"a\": 1}\n", false), Some("{\"a\": 1}\n"));
        assert_eq!(as_text(b"\x89PNG\r\n\x1a\n", false), None);
        assert_eq!(as_text(b"nul\0", false), None);
        let cut = "h\u{e9}".as_bytes();
        assert_eq!(as_text(&cut[..2], true), Some("h"));
        assert_eq!(as_text(&cut[..2], false), None);
        let mut prefix = BodyPrefix::new(4);
        prefix.tee(&[0, 159, 146, 150, 1, 2]);
        let view = BodyView::of(&prefix);
        assert!(view.binary && view.text.is_none());
        assert_eq!((view.size, view.kept, view.truncated_bytes), (6, 4, 2));
        assert_eq!(view.base64.as_deref(), Some("AJ+Slg=="));
    }

    #[test]
    fn secrets_are_masked_unless_asked_for() {
        let given = [
            Header::new("Authorization", "Bearer t0ken"),
            Header::new("cookie", "sid=1"),
            Header::new("accept", "*/*"),
        ];
        let masked = headers(&given, false);
        assert_eq!(masked[0].1, MASK);
        assert_eq!(masked[1].1, MASK);
        assert_eq!(masked[2].1, "*/*");
        assert_eq!(headers(&given, true)[0].1, "Bearer t0ken");
    }
}
