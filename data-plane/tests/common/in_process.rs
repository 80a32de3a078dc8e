//! A data-plane run in the test's own process through the library: its listeners bound
//! here on port 0 (every address known before it starts, none given up and bound again),
//! its JSON logs captured as a process's stdout would be, stopped through the library's
//! shutdown future. For tests where a process boundary isn't the point.

use std::{
    collections::HashMap,
    io::Write,
    sync::{Arc, Mutex, mpsc},
    time::Duration,
};

use hopgate_data_plane::{Listeners, load};
use slog::Logger;

use super::{BASE_ENV, DataPlane, Runner, TempDir, dev_domains, wait_listening};

/// The running pod: what stops it, and what says it stopped.
pub struct Pod {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// Behind a lock only so that a [`DataPlane`] can be shared between tasks.
    stopped: Mutex<mpsc::Receiver<Result<(), String>>>,
}

impl Pod {
    /// Asks the pod to drain and waits (a while) for it to stop; a pod that stopped with an
    /// error fails the test.
    pub fn stop(&mut self) {
        let Some(stop) = self.stop.take() else {
            return;
        };
        let _ = stop.send(());
        let ended = self
            .stopped
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(10));
        if let Ok(Err(err)) = ended
            && !std::thread::panicking()
        {
            panic!("the data-plane stopped with an error: {err}");
        }
    }
}

impl DataPlane {
    /// [`DataPlane::start`] in this process: a debug data-plane serving `domains` (with
    /// [`KEY`](super::KEY)), with `extra_env` as its settings' variables.
    pub fn in_process(domains: &[&str], extra_env: &[(&str, &str)]) -> Self {
        let state = Arc::new(TempDir::new("dp"));
        let mut env: HashMap<String, String> = BASE_ENV
            .iter()
            .chain(extra_env)
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        env.insert("HOP_SERVER_STATE_DIR".into(), state.0.display().to_string());
        env.insert("HOP_DEV_DOMAINS".into(), dev_domains(domains));
        let config = load(["hopgate-data-plane"], &env).unwrap().value;
        let listeners = Listeners::bind(&config).unwrap();
        let addresses = listeners.addresses().unwrap();
        let (log, lines, logged) = captured_logs(&config);
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (done, stopped) = mpsc::channel();
        std::thread::spawn(move || {
            let shutdown = async move {
                let _ = stop_rx.await;
                "the test's end"
            };
            let pod = hopgate_data_plane::run(listeners, config, log, shutdown);
            let result = actix_web::rt::System::new().block_on(pod);
            let _ = done.send(result.map_err(|err| format!("{err:#}")));
        });
        let (_, fingerprint) = wait_listening(&logged);
        let cert_pem = std::fs::read(state.0.join("debug-cert.pem")).unwrap();
        Self {
            runner: Runner::InProcess(Pod {
                stop: Some(stop),
                stopped: Mutex::new(stopped),
            }),
            https: addresses.https,
            http: addresses.http,
            dtls: addresses.dtls,
            metrics: addresses.ops,
            relay: addresses.relay,
            fingerprint,
            cert_pem,
            lines,
            state,
        }
    }
}

/// A logger writing the data-plane's JSON lines (from its `HOP_LOG_LEVEL`, as
/// `hopgate_logging::root` writes them) into a list kept for the test and onto a channel,
/// as a process's stdout is read. Without the `tracing` bridge: the test's own transport
/// (its stand-in agents) would log into it too.
fn captured_logs(
    config: &hopgate_data_plane::Config,
) -> (Logger, Arc<Mutex<Vec<String>>>, mpsc::Receiver<String>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let sink = LineSink {
        pending: Vec::new(),
        lines: lines.clone(),
        tx,
    };
    let level = config.log_level().to_slog();
    (hopgate_logging::json(sink, "data-plane", level), lines, rx)
}

/// Splits what the JSON drain writes into lines.
struct LineSink {
    pending: Vec<u8>,
    lines: Arc<Mutex<Vec<String>>>,
    tx: mpsc::Sender<String>,
}

impl Write for LineSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line[..end]).into_owned();
            let _ = self.tx.send(line.clone());
            self.lines.lock().unwrap().push(line);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
