//! The visitors' side: the HTTPS and port-80 listeners, what a connection passes before it
//! costs anything, and the handler that routes each visitor request to its upstream.
//!
//! - `workers`: the HTTPS listener's threads, each accepting what it serves.
//! - `listener`: the listeners, assembled from actix's parts: `admission` (per-IP caps on
//!   connections and TLS handshakes), the handshake's deadline, HTTP/2's limits;
//!   `connection`: an admitted connection and what its requests learn of it; `tls_stream`:
//!   its TLS, with empty reads kept from OpenSSL; `sni`: a request's Host must be one its
//!   TLS connection was made for (else 421).
//! - `access`: the domain's access policy (address ranges, Basic credentials), checked
//!   before the request goes anywhere (401, 403).
//! - `handler`: every HTTPS request: checked, counted under the caps, sent to its
//!   [`upstream`](crate::upstream), measured when its answer ends.
//! - `plain_http`: port 80, ACME HTTP-01 answers and redirects to HTTPS.
//! - `tunnel_tcp`: agents whose UDP is blocked: HTTPS connections that negotiated the
//!   tunnel's ALPN are handed to the transport's listener.
//!
//! Nothing else in the pod imports this module: requests flow from here to the upstream.

pub(crate) mod access;
pub(crate) mod admission;
pub(crate) mod connection;
pub(crate) mod handler;
pub(crate) mod listener;
pub(crate) mod plain_http;
pub(crate) mod sni;
pub(crate) mod tls_stream;
pub(crate) mod tunnel_tcp;
pub(crate) mod workers;
