//! `hopgate-agent`: parses the command line, loads and validates the settings, and runs the
//! tunnels until Ctrl-C or SIGTERM (or, with `--print-config`, prints the validated
//! settings as TOML, API keys masked, and exits 0). Exit status: 0 after a signal, 2 for a
//! configuration problem (including a key or domain the gateway refuses), 1 otherwise. See the library's
//! docs for how it works.

use std::process::ExitCode;

use hopgate_agent::config;
use hopgate_settings::ProcessEnv;

fn main() -> ExitCode {
    let startup = match config::load(std::env::args_os(), &ProcessEnv) {
        Ok(startup) => startup,
        Err(err) => return hopgate_settings::exit_code(config::SPEC.program, &err),
    };
    if let Some(text) = startup.printed {
        print!("{text}");
        return ExitCode::SUCCESS;
    }
    let settings = startup.settings;
    // One thread: with the transport's driver, the streams and the local client on the
    // same thread, no request pays for a cross-thread wake-up. Measured with bench/http.sh
    // (docs/benchmarks.md): ~25–35 % less CPU per proxied request than the multi-threaded runtime.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(hopgate_agent::run(settings, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{err}");
            ExitCode::from(err.exit_code())
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            eprintln!("shutting down");
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    eprintln!("shutting down");
}
