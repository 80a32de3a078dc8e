//! The CPU time of a process's threads, by kind: where in the pod a storm's work runs.

use std::collections::BTreeMap;

use crate::procfs::ticks_of;

/// User + system CPU time of each kind of thread of a process, in clock ticks: threads
/// are grouped by name, without the number that tells threads of a kind apart
/// (`dtls-socket-1` counts as `dtls-socket`), and named in `[a-z0-9_-]` only.
pub(crate) fn thread_cpu_ticks(pid: u32) -> anyhow::Result<BTreeMap<String, u64>> {
    let mut kinds = BTreeMap::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let task = entry?.path();
        // A thread that ended since the listing has nothing left to count.
        let (Ok(name), Ok(stat)) = (
            std::fs::read_to_string(task.join("comm")),
            std::fs::read_to_string(task.join("stat")),
        ) else {
            continue;
        };
        *kinds.entry(thread_kind(&name)).or_insert(0) += ticks_of(&stat)?;
    }
    Ok(kinds)
}

/// A thread's name without its number, in `[a-z0-9_-]`.
fn thread_kind(name: &str) -> String {
    name.trim()
        .trim_end_matches(|c: char| c.is_ascii_digit() || matches!(c, '-' | ' ' | ':' | '#'))
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '_' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '_',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_of_a_kind_share_a_name() {
        assert_eq!(thread_kind("dtls-socket-1\n"), "dtls-socket");
        assert_eq!(thread_kind("dtls-socket-12"), "dtls-socket");
        assert_eq!(thread_kind("dtls-handshakes"), "dtls-handshakes");
        assert_eq!(thread_kind("actix-rt|system"), "actix-rt_system");
    }

    #[test]
    fn a_busy_thread_is_counted_under_its_kind() {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let busy = std::thread::Builder::new()
            .name("busy-spinner-7".into())
            .spawn(move || {
                let started = std::time::Instant::now();
                while started.elapsed() < std::time::Duration::from_millis(400) {
                    std::hint::black_box(started.elapsed());
                }
                // Still listed while the kinds are read.
                let _ = stopped.recv();
            })
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(450));
        let kinds = thread_cpu_ticks(std::process::id()).unwrap();
        stop.send(()).unwrap();
        busy.join().unwrap();
        // 400 ms of spinning is 40 ticks at 100 Hz; a busy machine gives it less.
        let spun = kinds.get("busy-spinner").copied().unwrap_or(0);
        assert!(spun >= 5, "{kinds:?}");
        assert!(!kinds.contains_key("busy-spinner-7"));
    }
}
