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
use hopgate_e2e::{
    DataPlane, LineLog, Runner, Stop, TempDir,
    data_plane::{BASE_ENV, dev_domains, wait_listening},
};
use slog::Logger;

/// The running pod: what stops it, and what says it stopped.
pub struct Pod {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// Behind a lock only so that a [`DataPlane`] can be shared between tasks.
    stopped: Mutex<mpsc::Receiver<Result<(), String>>>,
}

impl Stop for Pod {
    /// Asks the pod to drain and waits (a while) for it to stop; a pod that stopped with an
    /// error fails the test.
    fn stop(&mut self) {
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

/// A [`DataPlane`] run in this process.
pub trait InProcess {
    /// [`DataPlane::start`] in this process: a debug data-plane serving `domains` (with
    /// [`KEY`](super::KEY)), with `extra_env` as its settings' variables.
    fn in_process(domains: &[&str], extra_env: &[(&str, &str)]) -> Self;

    /// [`InProcess::in_process`] keeping its state in `state`.
    fn in_process_in(domains: &[&str], extra_env: &[(&str, &str)], state: Arc<TempDir>) -> Self;
}

impl InProcess for DataPlane {
    fn in_process(domains: &[&str], extra_env: &[(&str, &str)]) -> Self {
        Self::in_process_in(domains, extra_env, Arc::new(TempDir::new("dp")))
    }

    fn in_process_in(domains: &[&str], extra_env: &[(&str, &str)], state: Arc<TempDir>) -> Self {
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
        let (logger, log) = captured_logs(&config);
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (done, stopped) = mpsc::channel();
        std::thread::spawn(move || {
            let shutdown = async move {
                let _ = stop_rx.await;
                "the test's end"
            };
            let pod = hopgate_data_plane::run(listeners, config, logger, shutdown);
            let result = actix_web::rt::System::new().block_on(pod);
            let _ = done.send(result.map_err(|err| format!("{err:#}")));
        });
        let (_, fingerprint) = wait_listening(&log);
        let cert_pem = std::fs::read(state.0.join("debug-cert.pem")).unwrap();
        Self {
            runner: Runner::InProcess(Box::new(Pod {
                stop: Some(stop),
                stopped: Mutex::new(stopped),
            })),
            https: addresses.https,
            http: addresses.http,
            dtls: addresses.dtls,
            metrics: addresses.ops,
            relay: addresses.relay,
            fingerprint,
            cert_pem,
            log,
            state,
        }
    }
}

/// A logger writing the data-plane's JSON lines (from its `HOP_LOG_LEVEL`, as
/// `hopgate_logging::root` writes them) into a [`LineLog`], as a process's stdout is read.
/// Without the `tracing` bridge: the test's own transport (its stand-in agents) would log
/// into it too.
fn captured_logs(config: &hopgate_data_plane::Config) -> (Logger, LineLog) {
    let log = LineLog::default();
    let sink = LineSink {
        pending: Vec::new(),
        log: log.clone(),
    };
    let level = config.log_level().to_slog();
    (hopgate_logging::json(sink, "data-plane", level), log)
}

/// Splits what the JSON drain writes into lines.
struct LineSink {
    pending: Vec<u8>,
    log: LineLog,
}

impl Write for LineSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            self.log
                .push(String::from_utf8_lossy(&line[..end]).into_owned());
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
