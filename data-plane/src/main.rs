//! `hopgate-data-plane`: reads the settings, sets up the JSON logs, binds the pod's
//! listeners and runs it (see the library) until SIGTERM or SIGINT drains it. Exit status:
//! 0 after the drain, 2 for a bad setting (naming it), 1 otherwise.

use std::process::ExitCode;

use hopgate_data_plane::{Config, Listeners, config};
use slog::{Logger, error};

#[actix_web::main]
async fn main() -> ExitCode {
    let loaded = match config::load(std::env::args_os(), &hopgate_settings::ProcessEnv) {
        Ok(loaded) => loaded,
        Err(err) => return hopgate_settings::exit_code(config::SPEC.program, &err),
    };
    if loaded.print_config {
        return match loaded.to_toml() {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(err) => hopgate_settings::exit_code(config::SPEC.program, &err),
        };
    }
    let config = loaded.value;
    let log = hopgate_logging::root("data-plane", config.log_level().to_slog());
    match serve(config, log.clone()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            error!(log, "data-plane stopped"; "error" => format!("{err:#}"));
            eprintln!("hopgate-data-plane: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Binds the listeners `config` names and runs the pod on them.
async fn serve(config: Config, log: Logger) -> anyhow::Result<()> {
    let listeners = Listeners::bind(&config)?;
    hopgate_data_plane::run(listeners, config, log, signal()).await?;
    Ok(())
}

/// Resolves on SIGTERM or SIGINT, with the signal's name.
async fn signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers there is nothing to wait for.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
