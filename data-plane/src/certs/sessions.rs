//! TLS session resumption on the visitors' HTTPS listener: a visitor that comes back within
//! `HOP_SERVER_TLS_TICKET_KEY_ROTATION` skips the certificate and its signature (a TLS 1.3
//! PSK handshake, still with a fresh X25519 exchange).
//!
//! - **Stateless tickets only.** Sessions live in the tickets the visitors hold, encrypted
//!   under keys OpenSSL draws at random for the listener's context; no session cache holds
//!   anything (OpenSSL's own is off), so memory doesn't grow with visitors.
//! - **Keys rotated on a timer.** [`SessionContexts::rotate`] replaces the context that
//!   issues and opens tickets with a fresh one (new random keys) every period; tickets
//!   made under the old keys no longer open, and their visitors make one full handshake.
//!   The keys never leave the process and die with it. A session's lifetime is the period.
//! - **A session resumes only for the name it was made for.** OpenSSL decides on a
//!   resumption before it reads the SNI name, and TLS 1.3 doesn't tie a session to a
//!   name: [`check_resumption`], called from the SNI callback, refuses a handshake that
//!   resumes a session made for another name (or for none). In TLS 1.2 OpenSSL itself
//!   keeps a resumed session's name: the connection is for that name, whatever was sent.

use std::{sync::Arc, time::Duration};

use arc_swap::{ArcSwap, Guard};
use openssl::ssl::{NameType, SslContext, SslRef};

use crate::ops::metrics::Metrics;

/// The HTTPS listener's TLS context, which issues and opens session tickets, replaced
/// whole on each rotation (connections in progress keep theirs).
pub(crate) struct SessionContexts {
    current: ArcSwap<SslContext>,
    /// Makes a fresh context (fresh ticket keys) with the listener's certificates.
    fresh: Box<dyn Fn() -> anyhow::Result<SslContext> + Send + Sync>,
    metrics: Arc<Metrics>,
}

impl SessionContexts {
    /// The first context from `fresh`, which is called again on every rotation.
    pub(crate) fn new(
        fresh: impl Fn() -> anyhow::Result<SslContext> + Send + Sync + 'static,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            current: ArcSwap::from_pointee(fresh()?),
            fresh: Box::new(fresh),
            metrics,
        })
    }

    /// The context a new connection starts its handshake with.
    pub(crate) fn current(&self) -> Guard<Arc<SslContext>> {
        self.current.load()
    }

    /// New ticket keys from now on: tickets issued before no longer resume.
    pub(crate) fn rotate(&self) -> anyhow::Result<()> {
        self.current.store(Arc::new((self.fresh)()?));
        self.metrics.tls_ticket_keys_rotated();
        Ok(())
    }

    /// Rotates every `period` until the task is dropped; a context that can't be built
    /// (it was built at start with the same inputs) leaves the current keys in place.
    pub(crate) async fn rotate_every(self: Arc<Self>, period: Duration, log: slog::Logger) {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(err) = self.rotate() {
                slog::error!(log, "TLS session ticket keys not rotated"; "error" => format!("{err:#}"));
            }
        }
    }
}

/// Whether the handshake on `ssl` may go on: a new session always; a resumed one only for
/// the SNI name (or absence of one) it was made for. Called from the SNI callback, after
/// OpenSSL has chosen to resume and before it overwrites the session's name.
pub(crate) fn check_resumption(ssl: &SslRef) -> bool {
    if !ssl.session_reused() {
        return true;
    }
    let Some(session) = ssl.session() else {
        return false;
    };
    let Ok(der) = session.to_der() else {
        return false;
    };
    let Some(made_for) = session_server_name(&der) else {
        return false;
    };
    let asked = ssl.servername(NameType::HOST_NAME).map(str::as_bytes);
    match (made_for, asked) {
        (None, None) => true,
        (Some(made_for), Some(asked)) => made_for.eq_ignore_ascii_case(asked),
        _ => false,
    }
}

/// The SNI name stored in a DER-encoded `SSL_SESSION` (OpenSSL's `SSL_SESSION_ASN1`: a
/// SEQUENCE whose optional `[6] EXPLICIT OCTET STRING` is the host name): `Some(None)`
/// when it has none, `None` when the encoding can't be read.
fn session_server_name(der: &[u8]) -> Option<Option<&[u8]>> {
    let (tag, mut fields, rest) = tlv(der)?;
    if tag != 0x30 || !rest.is_empty() {
        return None;
    }
    while !fields.is_empty() {
        let (tag, value, rest) = tlv(fields)?;
        if tag == 0xa6 {
            let (inner, name, after) = tlv(value)?;
            return (inner == 0x04 && after.is_empty()).then_some(Some(name));
        }
        fields = rest;
    }
    Some(None)
}

/// One DER element at the start of `input`: its tag (one byte), its value and what
/// follows it.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        let len = bytes
            .iter()
            .fold(0usize, |len, byte| (len << 8) | usize::from(*byte));
        (len, rest)
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DER element with `tag` around `value` (short or long length form).
    fn element(tag: u8, value: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        match value.len() {
            len @ 0..=0x7f => out.push(len as u8),
            len @ 0x80..=0xff => out.extend([0x81, len as u8]),
            len => out.extend([0x82, (len >> 8) as u8, len as u8]),
        }
        out.extend_from_slice(value);
        out
    }

    fn session(fields: &[Vec<u8>]) -> Vec<u8> {
        element(0x30, &fields.concat())
    }

    #[test]
    fn the_name_is_found_among_the_other_fields() {
        let name = element(0xa6, &element(0x04, b"a.gw.test"));
        let der = session(&[
            element(0x02, &[1]),
            element(0x04, &[0x13, 0x02]),
            element(0xa4, &element(0x04, &[0; 32])),
            name,
            element(0xa9, &element(0x02, &[0x1c, 0x20])),
        ]);
        assert_eq!(session_server_name(&der), Some(Some(&b"a.gw.test"[..])));
        // Long length forms, as a session with a large ticket has.
        let big = session(&[
            element(0xaa, &[7; 300]),
            element(0xa6, &element(0x04, b"b")),
        ]);
        assert_eq!(session_server_name(&big), Some(Some(&b"b"[..])));
    }

    #[test]
    fn a_session_without_a_name_says_so() {
        let der = session(&[element(0x02, &[1]), element(0xa4, &element(0x04, &[1]))]);
        assert_eq!(session_server_name(&der), Some(None));
    }

    #[test]
    fn a_broken_encoding_is_no_name() {
        let good = session(&[element(0xa6, &element(0x04, b"a.test"))]);
        for cut in 0..good.len() {
            assert_eq!(session_server_name(&good[..cut]), None, "cut at {cut}");
        }
        assert_eq!(
            session_server_name(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
            None
        );
        assert_eq!(session_server_name(&element(0x31, &[])), None);
        let not_a_string = session(&[element(0xa6, &element(0x02, &[1]))]);
        assert_eq!(session_server_name(&not_a_string), None);
    }
}
