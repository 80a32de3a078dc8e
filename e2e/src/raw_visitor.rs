//! A hostile visitor's connections to a pod's HTTPS listener: TLS with any SNI name (or
//! none), no certificate check, and requests written as an attacker would: HTTP/1.1 bytes
//! as they are, HTTP/2 with `:path` and `:authority` set to anything.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use rustls::{
    DigitallySignedStruct, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::CryptoProvider,
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_rustls::{TlsConnector, client::TlsStream};

/// Any step of a raw exchange may take this long.
const STEP: Duration = Duration::from_secs(10);

/// A TLS connection to `https` offering `alpn`, sending `sni` as the server name (`None`:
/// no SNI, as for an IP-literal URL). Whatever certificate the pod presents is accepted.
pub async fn tls(https: SocketAddr, sni: Option<&str>, alpn: &[u8]) -> TlsStream<TcpStream> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    // rustls sends no SNI for an IP address.
    let name = match sni {
        Some(name) => ServerName::try_from(name.to_owned()).unwrap(),
        None => ServerName::IpAddress(https.ip().into()),
    };
    let tcp = TcpStream::connect(https).await.unwrap();
    tokio::time::timeout(
        STEP,
        TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .expect("TLS handshake timed out")
    .unwrap()
}

/// Sends `request` (an HTTP/1.1 request as bytes; it should ask to close) on a TLS
/// connection to `https` with `sni`, and returns the status and the whole answer.
pub async fn h1(https: SocketAddr, sni: Option<&str>, request: &str) -> (u16, String) {
    let mut tls = tls(https, sni, b"http/1.1").await;
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    // The pod may close without a TLS close_notify: what was read counts.
    let _ = tokio::time::timeout(STEP, tls.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP/1.1 status in {answer:?}"));
    (status, answer)
}

/// An HTTP/2 GET on a TLS connection to `https` with `sni`, with `:authority` and `:path`
/// (origin-form) as given and `headers`; the status and body.
pub async fn h2(
    https: SocketAddr,
    sni: Option<&str>,
    authority: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let tls = tls(https, sni, b"h2").await;
    let (client, connection) = h2::client::handshake(tls).await.unwrap();
    tokio::spawn(connection);
    let mut parts = http_02::uri::Parts::default();
    parts.scheme = Some(http_02::uri::Scheme::HTTPS);
    parts.authority = Some(authority.parse().unwrap());
    parts.path_and_query = Some(path.parse().unwrap());
    let mut request = http_02::Request::get(http_02::Uri::from_parts(parts).unwrap());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut client = client.ready().await.unwrap();
    let (response, _) = client
        .send_request(request.body(()).unwrap(), true)
        .unwrap();
    let response = tokio::time::timeout(STEP, response)
        .await
        .expect("no HTTP/2 response")
        .unwrap();
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut text = Vec::new();
    while let Some(chunk) = tokio::time::timeout(STEP, body.data())
        .await
        .expect("HTTP/2 body stalled")
    {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        text.extend_from_slice(&chunk);
    }
    (status, String::from_utf8_lossy(&text).into_owned())
}

/// An HTTP/2 GET on `https` for `domain` whose `:path` is `target` exactly, even one
/// that doesn't start with `/` (which no Rust HTTP/2 client sends), through `curl`;
/// the status and body.
pub fn h2_raw_path(https: SocketAddr, domain: &str, target: &str) -> (u16, String) {
    let port = https.port();
    let out = std::process::Command::new("curl")
        .args(["-sS", "-k", "--http2", "--max-time", "10"])
        .args(["--resolve", &format!("{domain}:{port}:{}", https.ip())])
        .args(["--request-target", target])
        .args(["-w", "\n%{http_code}"])
        .arg(format!("https://{domain}:{port}/"))
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    let status = status
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("curl: {text} {}", String::from_utf8_lossy(&out.stderr)));
    (status, body.to_owned())
}

/// Accepts any certificate (the attacker doesn't care which site it reached); signatures
/// are still checked so the handshake is real.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
