//! `hopgate-data-plane`: terminates visitors' HTTPS and carries each request through an
//! agent's DTLS session (issue 3). This step ships only the transport it will stand on
//! (`hopgate-transport`) and the wire protocol (`hopgate-protocol`); the binary says so
//! instead of pretending to serve.

fn main() -> std::process::ExitCode {
    eprintln!(
        "hopgate-data-plane {}: not implemented yet (the HTTPS front end lands with issue 3); \
         the DTLS stream transport and wire protocol it uses are in shared/ (protocol v{})",
        env!("CARGO_PKG_VERSION"),
        hopgate_protocol::PROTOCOL_VERSION,
    );
    std::process::ExitCode::from(2)
}
