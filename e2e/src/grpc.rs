//! gRPC for the tests: `services/grpc_echo.py` (Python's grpcio, pinned and installed by
//! `scripts/grpcio.sh` into a cached virtualenv) as a real gRPC service speaking h2c, and
//! as a real gRPC client calling it through a pod over TLS.

use std::{net::SocketAddr, process::Command, sync::OnceLock};

use hopgate_test_support::TempDir;

use crate::{DataPlane, listening_child::ListeningChild};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/services/grpc_echo.py");

/// The python of the grpcio virtualenv, installed on first use.
fn python() -> &'static str {
    static PYTHON: OnceLock<String> = OnceLock::new();
    PYTHON.get_or_init(|| hopgate_test_support::tool_from_script("grpcio.sh"))
}

/// The gRPC service `hopgate.test.Echo` (see the script for its methods) on 127.0.0.1.
pub struct GrpcService {
    _process: ListeningChild,
    pub addr: SocketAddr,
}

impl GrpcService {
    pub fn start() -> Self {
        let mut command = Command::new(python());
        command.args([SCRIPT, "serve"]);
        let process = ListeningChild::spawn(command, "grpc_echo.py");
        Self {
            addr: process.addr,
            _process: process,
        }
    }
}

/// Calls the service behind `domain` through `dp` (HTTP/2 over TLS, as any gRPC client
/// would), one call per scenario of the script (`unary`, `server_stream`, `client_stream`,
/// `bidi`, `deadline`, `fail`), in order: `{scenario: {code, details, replies, trailers,
/// seconds}}`.
pub fn grpc_calls(dp: &DataPlane, domain: &str, scenarios: &[&str]) -> serde_json::Value {
    let dir = TempDir::new("grpc-client");
    let ca = dir.0.join("ca.pem");
    std::fs::write(&ca, &dp.cert_pem).unwrap();
    let output = Command::new(python())
        .args([SCRIPT, "call", "--address", &dp.https.to_string()])
        .args(["--authority", domain, "--ca"])
        .arg(&ca)
        .args(scenarios)
        .output()
        .expect("the grpcio client runs");
    assert!(
        output.status.success(),
        "grpc_echo.py call failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "grpc_echo.py printed no JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}
