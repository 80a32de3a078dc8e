//! The real agent binary as a child process, its output kept line by line
//! ([`LineLog`]) and read in order.

use std::{
    fs::File,
    process::{ExitStatus, Stdio},
    time::Duration,
};

use hopgate_test_support::{LineLog, peak_rss_kib};

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

/// The real agent binary, its output (stdout and stderr) read line by line.
pub struct Agent {
    child: tokio::process::Child,
    log: LineLog,
    /// Where [`Agent::wait_for`] looks from: past the last line it returned.
    next: usize,
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
        // Many agents run at once: the inspector only where a test asks for it.
        command.env("HOP_CLIENT_INSPECT", "off");
        command.envs(env.iter().copied());
        let mut child = command.spawn().expect("spawning the agent");
        let pid = child.id().unwrap_or_default();
        let log = LineLog::default();
        let stdout = child.stdout.take().unwrap().into_owned_fd().unwrap();
        let stderr = child.stderr.take().unwrap().into_owned_fd().unwrap();
        log.follow(File::from(stdout), format!("agent {pid} stdout"));
        log.follow(File::from(stderr), format!("agent {pid} stderr"));
        Self {
            child,
            log,
            next: 0,
        }
    }

    /// Waits for a line after the last one this returned that satisfies `want`; panics
    /// with the output so far if none comes.
    pub async fn wait_for(
        &mut self,
        what: &str,
        limit: Duration,
        want: impl Fn(&str) -> bool,
    ) -> String {
        let (index, line) = self.log.wait_for_from(self.next, what, limit, want).await;
        self.next = index + 1;
        line
    }

    /// Waits for the `connected ...` line of a new session.
    pub async fn connected(&mut self) -> String {
        self.wait_for("`connected` line", STEP, |l| l.starts_with("connected"))
            .await
    }

    /// Waits for the process to exit and for the last of its output to be read (the exit
    /// can be seen before the readers have read the final lines).
    pub async fn exit_status(&mut self, limit: Duration) -> ExitStatus {
        let status = match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => status.unwrap(),
            Err(_) => panic!(
                "the agent did not exit within {limit:?}; output:\n{}",
                self.output()
            ),
        };
        self.log.wait_ended(STEP).await;
        status
    }

    /// Everything the agent printed so far.
    pub fn output(&self) -> String {
        self.log.text()
    }

    /// The agent's peak resident memory (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        peak_rss_kib(self.child.id().expect("the agent exited"))
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
