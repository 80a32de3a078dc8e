//! `services/head_echo.py` as a child process: a real HTTP/1.1 service (Python's
//! http.server) that checks `Host` as development servers do and echoes request heads.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    process::{Child, Command, Stdio},
};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/services/head_echo.py");

pub struct HeadService {
    child: Child,
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
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line
            .strip_prefix("listening ")
            .and_then(|port| port.trim().parse().ok())
            .unwrap_or_else(|| panic!("head_echo.py said {line:?}"));
        Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }
}

impl Drop for HeadService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
