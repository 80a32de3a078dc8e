//! A test service run as a child process that prints `listening PORT` as its first line
//! (the Python services under `tests/services/`): started, its address read from that
//! line, and killed when dropped.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    process::{Child, Command, Stdio},
};

pub struct ListeningChild {
    child: Child,
    /// Where it listens, on 127.0.0.1.
    pub addr: SocketAddr,
}

impl ListeningChild {
    /// Runs `command` (its stdout piped here) and waits for its `listening PORT` line;
    /// `name` says which service in a failure.
    pub fn spawn(mut command: Command, name: &str) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{name} does not start: {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line
            .strip_prefix("listening ")
            .and_then(|port| port.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} said {line:?}"));
        Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }
}

impl Drop for ListeningChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
