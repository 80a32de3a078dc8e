//! A child process's output, line by line, kept for the test: every line of stdout and
//! stderr as it is written, with waits for a line that matches (a `listening` line, an
//! agent's `connected`) instead of sleeps. Readers are threads, so a log can be waited on
//! from synchronous code and from any async runtime alike.

use std::{
    io::{BufRead, BufReader, Read},
    process::Child,
    sync::{Arc, Condvar, Mutex, MutexGuard},
    time::{Duration, Instant},
};

/// The lines a process wrote so far, shared with the threads that read them.
#[derive(Clone, Default)]
pub struct LineLog {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Woken for every line and at the end of every stream (synchronous waiters).
    changed: Condvar,
    /// The same, for async waiters.
    notify: tokio::sync::Notify,
}

#[derive(Default)]
struct State {
    lines: Vec<String>,
    /// Streams followed, and those still being read: once every followed stream ended,
    /// no line will come (a log only pushed to never ends).
    followed: usize,
    open: usize,
}

impl State {
    /// The first line at index `from` or later that satisfies `want`, and its index.
    fn first_from(&self, from: usize, want: impl Fn(&str) -> bool) -> Option<(usize, String)> {
        let mut lines = self.lines.iter().enumerate().skip(from);
        lines
            .find(|(_, line)| want(line))
            .map(|(index, line)| (index, line.clone()))
    }

    fn ended(&self) -> bool {
        self.followed > 0 && self.open == 0
    }
}

impl LineLog {
    /// Reads `child`'s stdout and stderr, whichever were piped, into a new log; `tag`
    /// prefixes the copy of each line on the test's stderr (shown when a test fails).
    pub fn of_child(child: &mut Child, tag: &str) -> Self {
        let log = Self::default();
        if let Some(stdout) = child.stdout.take() {
            log.follow(stdout, format!("{tag} {} stdout", child.id()));
        }
        if let Some(stderr) = child.stderr.take() {
            log.follow(stderr, format!("{tag} {} stderr", child.id()));
        }
        log
    }

    /// Adds the lines of `stream` to this log as they arrive, on a thread of their own.
    pub fn follow(&self, stream: impl Read + Send + 'static, tag: String) {
        {
            let mut state = self.lock();
            state.followed += 1;
            state.open += 1;
        }
        let log = self.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                eprintln!("[{tag}] {line}");
                log.push(line);
            }
            log.lock().open -= 1;
            log.wake();
        });
    }

    /// Adds one line (for a log written in this process).
    pub fn push(&self, line: String) {
        self.lock().lines.push(line);
        self.wake();
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lock().lines.clone()
    }

    /// Every line so far, joined by newlines.
    pub fn text(&self) -> String {
        self.lock().lines.join("\n")
    }

    /// Whether any line so far contains `needle`.
    pub fn contains(&self, needle: &str) -> bool {
        self.lock().lines.iter().any(|line| line.contains(needle))
    }

    /// How many lines so far satisfy `want`.
    pub fn count(&self, want: impl Fn(&str) -> bool) -> usize {
        self.lock().lines.iter().filter(|line| want(line)).count()
    }

    /// How many lines so far (where a later wait can start from).
    pub fn len(&self) -> usize {
        self.lock().lines.len()
    }

    /// Whether no line came yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first line (from the start of the log) that satisfies `want`, waiting up to
    /// `within` for it; panics saying `what` and showing the log if none comes, or if the
    /// process closed its output first.
    pub fn wait_for(&self, what: &str, within: Duration, want: impl Fn(&str) -> bool) -> String {
        self.wait_for_blocking_from(0, what, within, want).1
    }

    /// [`LineLog::wait_for`] looking at lines from index `from` on; the line and its index.
    pub fn wait_for_blocking_from(
        &self,
        from: usize,
        what: &str,
        within: Duration,
        want: impl Fn(&str) -> bool,
    ) -> (usize, String) {
        let deadline = Instant::now() + within;
        let mut state = self.lock();
        loop {
            if let Some(found) = state.first_from(from, &want) {
                return found;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if state.ended() || left.is_zero() {
                drop(state);
                self.missing(what, within);
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// [`LineLog::wait_for`] without blocking the async runtime's thread.
    pub async fn wait_for_async(
        &self,
        what: &str,
        within: Duration,
        want: impl Fn(&str) -> bool,
    ) -> String {
        self.wait_for_from(0, what, within, want).await.1
    }

    /// The first line at index `from` or later that satisfies `want`, and its index,
    /// waiting up to `within` for it (a reader that goes through the log in order keeps
    /// the index after the last line it took).
    pub async fn wait_for_from(
        &self,
        from: usize,
        what: &str,
        within: Duration,
        want: impl Fn(&str) -> bool,
    ) -> (usize, String) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let changed = self.shared.notify.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let state = self.lock();
                if let Some(found) = state.first_from(from, &want) {
                    return found;
                }
                if state.ended() {
                    drop(state);
                    self.missing(what, within);
                }
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                self.missing(what, within);
            }
        }
    }

    /// Whether every stream followed has ended (the process closed its output).
    pub fn ended(&self) -> bool {
        self.lock().ended()
    }

    /// Waits up to `within` until every stream followed has ended, so that the last lines
    /// of a process that exited are in; whether they did.
    pub async fn wait_ended(&self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let changed = self.shared.notify.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.ended() {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return self.ended();
            }
        }
    }

    /// The first line containing `"msg":"<msg>"` (a JSON log line), waiting for it.
    pub async fn wait_for_msg(&self, msg: &str, within: Duration) -> String {
        let wanted = format!("\"msg\":\"{msg}\"");
        self.wait_for_async(msg, within, |line| line.contains(&wanted))
            .await
    }

    fn missing(&self, what: &str, within: Duration) -> ! {
        let ended = if self.lock().ended() {
            "the output ended"
        } else {
            "timed out"
        };
        panic!(
            "no {what} within {within:?} ({ended}); the log:\n{}",
            self.text()
        )
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wake(&self) {
        self.shared.changed.notify_all();
        self.shared.notify.notify_waiters();
    }
}

/// A `"name":"value"` field of a JSON log line.
pub fn field(line: &str, name: &str) -> Option<String> {
    let start = line.find(&format!("\"{name}\":\""))? + name.len() + 4;
    let end = line[start..].find('"')? + start;
    Some(line[start..end].to_owned())
}

#[cfg(test)]
mod tests {
    use std::{process::Stdio, time::Duration};

    use super::LineLog;

    #[test]
    fn lines_from_both_streams_are_kept_and_awaited() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "echo one; echo two >&2; sleep 0.2; echo three"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = LineLog::of_child(&mut child, "sh");
        let three = log.wait_for("three", Duration::from_secs(10), |l| l == "three");
        assert_eq!(three, "three");
        assert!(log.contains("one") && log.contains("two"), "{}", log.text());
        child.wait().unwrap();
    }

    #[test]
    #[should_panic(expected = "the output ended")]
    fn a_line_that_never_comes_fails_once_the_output_ends() {
        let mut child = std::process::Command::new("true")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let log = LineLog::of_child(&mut child, "true");
        log.wait_for("anything", Duration::from_secs(30), |_| true);
    }

    #[tokio::test]
    async fn an_async_wait_sees_a_line_pushed_later() {
        let log = LineLog::default();
        let writer = log.clone();
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            writer.push("{\"msg\":\"listening\"}".into());
        });
        let line = log.wait_for_msg("listening", Duration::from_secs(10)).await;
        assert!(line.contains("listening"));
    }
}
