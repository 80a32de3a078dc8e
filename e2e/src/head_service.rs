//! `services/head_echo.py` as a child process: a real HTTP/1.1 service (Python's
//! http.server) that checks `Host` as development servers do and echoes request heads.

use std::{net::SocketAddr, process::Command};

use crate::listening_child::ListeningChild;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/services/head_echo.py");

pub struct HeadService {
    _process: ListeningChild,
    pub addr: SocketAddr,
}

impl HeadService {
    /// Starts the service; it accepts its own address as `Host`, and the names in `allow`.
    pub fn start(allow: &[&str]) -> Self {
        let mut command = Command::new("python3");
        command.arg(SCRIPT);
        for name in allow {
            command.args(["--allow", name]);
        }
        let process = ListeningChild::spawn(command, "head_echo.py");
        Self {
            addr: process.addr,
            _process: process,
        }
    }
}
