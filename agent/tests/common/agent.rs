//! The real agent binary as a child process, its output read line by line.

use std::{
    process::{ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    sync::mpsc,
};

use super::{DOMAIN, Gateway, KEY, STEP};

/// Every `HOP_CLIENT_*` name, removed from the agent's environment unless a test sets it.
const ENV_NAMES: &[&str] = &[
    "HOP_CLIENT_SERVER_ADDR",
    "HOP_CLIENT_DOMAIN",
    "HOP_CLIENT_API_KEY",
    "HOP_CLIENT_LOCAL_TARGET",
    "HOP_CLIENT_DEBUG",
    "HOP_CLIENT_SERVER_FINGERPRINT",
    "HOP_CLIENT_CA_FILE",
    "HOP_CLIENT_SERVER_NAME",
    "HOP_CLIENT_RESPONSE_TIMEOUT_SECS",
    "HOP_CLIENT_VERBOSE",
    "HOP_CLIENT_CONFIG",
];

/// The real agent binary, its output read line by line.
pub struct Agent {
    child: tokio::process::Child,
    lines: mpsc::UnboundedReceiver<String>,
    log: Arc<Mutex<Vec<String>>>,
    /// The tasks reading stdout and stderr: done once the process closed both.
    readers: Vec<tokio::task::JoinHandle<()>>,
}

impl Agent {
    /// `hopgate-agent http <target> --domain DOMAIN --key KEY` plus the gateway's flags.
    pub fn serve(gateway: &Gateway, target: &str, extra: &[&str]) -> Self {
        let mut args: Vec<String> = ["http", target, "--domain", DOMAIN, "--key", KEY]
            .map(String::from)
            .to_vec();
        args.extend(gateway.agent_args());
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::spawn(&args, &[])
    }

    pub fn spawn(args: &[String], env: &[(&str, &str)]) -> Self {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_hopgate-agent"));
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for name in ENV_NAMES {
            command.env_remove(name);
        }
        command.envs(env.iter().copied());
        let mut child = command.spawn().expect("spawning the agent");
        let (tx, lines) = mpsc::unbounded_channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        let pid = child.id().unwrap_or_default();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for (name, stream) in [
            (
                "stdout",
                Box::new(stdout) as Box<dyn tokio::io::AsyncRead + Send + Unpin>,
            ),
            ("stderr", Box::new(stderr)),
        ] {
            let tx = tx.clone();
            let log = log.clone();
            readers.push(tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    eprintln!("[agent {pid} {name}] {line}");
                    log.lock().unwrap().push(line.clone());
                    let _ = tx.send(line);
                }
            }));
        }
        Self {
            child,
            lines,
            log,
            readers,
        }
    }

    /// Waits for a line that satisfies `want`; panics with the output so far if none comes.
    pub async fn wait_for(
        &mut self,
        what: &str,
        limit: Duration,
        want: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) if want(&line) => return line,
                Ok(Some(_)) => {}
                Ok(None) => panic!("the agent's output ended before {what}:\n{}", self.output()),
                Err(_) => panic!("no {what} within {limit:?}; output:\n{}", self.output()),
            }
        }
    }

    /// Waits for the `connected ...` line of a new session.
    pub async fn connected(&mut self) -> String {
        self.wait_for("`connected` line", STEP, |l| l.starts_with("connected"))
            .await
    }

    /// Waits for the process to exit and for the last of its output to be read (the exit
    /// can be seen before the reader tasks have read the final lines).
    pub async fn exit_status(&mut self, limit: Duration) -> ExitStatus {
        let status = match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => status.unwrap(),
            Err(_) => panic!(
                "the agent did not exit within {limit:?}; output:\n{}",
                self.output()
            ),
        };
        for reader in self.readers.drain(..) {
            let _ = tokio::time::timeout(STEP, reader).await;
        }
        status
    }

    /// Everything the agent printed so far.
    pub fn output(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// The agent's peak resident memory (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let pid = self.child.id().expect("the agent exited");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("no VmHWM in /proc/PID/status")
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let pid = self.child.id().expect("the agent exited");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Checks that the key never appeared in the output.
    pub fn assert_key_never_printed(&self) {
        let output = self.output();
        assert!(
            !output.contains(KEY),
            "the API key leaked into the agent's output:\n{output}"
        );
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.assert_key_never_printed();
        }
    }
}
