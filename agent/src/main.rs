//! `hopgate-agent`: parses the command line, loads and validates the settings, and runs the
//! tunnels until Ctrl-C or SIGTERM. Exit status: 0 after a signal, 2 for a configuration
//! problem (including a key or domain the gateway refuses), 1 otherwise. See the library's
//! docs for how it works.

use std::process::ExitCode;

use clap::Parser;
use hopgate_agent::{
    cli::Cli,
    config::{Config, ProcessEnv},
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Config::load(&cli, &ProcessEnv).and_then(|config| config.validate()) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
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
