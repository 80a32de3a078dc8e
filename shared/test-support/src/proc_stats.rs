//! What a running process holds, from `/proc`: resident memory and open file descriptors,
//! to check an attack left nothing behind.

use std::time::Duration;

/// A process's resident memory and open descriptors at one moment.
#[derive(Debug, Clone, Copy)]
pub struct ProcStats {
    pub rss_kib: u64,
    pub fds: usize,
}

impl ProcStats {
    /// Reads `/proc/<pid>/status` (VmRSS) and `/proc/<pid>/fd`.
    pub fn of(pid: u32) -> Self {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_else(|e| panic!("process {pid} is gone: {e}"));
        let rss_kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("a VmRSS line");
        Self {
            rss_kib,
            fds: open_fds(pid),
        }
    }
}

/// The peak resident memory (`VmHWM`) of `pid` so far, in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("process {pid} is gone: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmHWM line")
}

/// How many file descriptors `pid` has open.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|e| panic!("process {pid} is gone: {e}"))
        .count()
}

/// Whether `pid` is running (exists and is not a zombie).
pub fn is_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // The state follows the command name in parentheses: "pid (comm) S ...".
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}

/// Polls until `pid` has at most `limit` descriptors open, for up to `within`; the last
/// count seen (the caller asserts on it, with its own message).
pub async fn wait_for_fds_at_most(pid: u32, limit: usize, within: Duration) -> usize {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let fds = open_fds(pid);
        if fds <= limit || tokio::time::Instant::now() >= deadline {
            return fds;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
