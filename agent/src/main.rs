//! `hopgate-agent`: dials the gateway over DTLS and serves its streams from a local service
//! (issue 3). This step ships only the transport and wire protocol it will use; the binary
//! says so instead of pretending to tunnel.

fn main() -> std::process::ExitCode {
    eprintln!(
        "hopgate-agent {}: not implemented yet (the tunnel lands with issue 3); protocol v{}",
        env!("CARGO_PKG_VERSION"),
        hopgate_protocol::PROTOCOL_VERSION,
    );
    std::process::ExitCode::from(2)
}
