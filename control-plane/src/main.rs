//! `hopgate-control-plane`: owns the database, serves the admin API, and pushes the
//! routing table (domains and their key hashes, certificates and ACME answers) to every data-plane pod over internal HTTP. Pods never touch the database.
//!
//! # Layout
//!
//! - `settings`, `config`: settings from defaults < a `--config` TOML file <
//!   `HOP_…` variables < flags (exit code 2 when one is bad; `--print-config`), JSON logs on
//!   stdout at `HOP_LOG_LEVEL` (`hopgate-logging`).
//! - `store`: sqlx over Postgres or SQLite (one portable schema, `/migrations`).
//! - `domain_name`, `keys`: what a domain may be; client API keys and their hashes.
//! - `hub`: the table in memory and its fan-out to subscribed pods.
//! - `service`: admin operations = one transaction, then a published delta.
//! - `acme`: certificates for the main domain and every registered domain (instant-acme,
//!   HTTP-01 answers pushed in the table); off unless `HOP_ACME_DIR` is set.
//! - `admin`: the admin API (`HOP_ADMIN_LISTEN`); `internal`: the pods' listener
//!   (`HOP_INTERNAL_LISTEN`: table stream, session reports), HTTPS through `tls` when
//!   configured; `metrics`: `/metrics`, `/healthz`, `/readyz` (`HOP_METRICS_LISTEN`).
//! - `cli`: `hopgate-control-plane admin …`, the operator's command line over the admin API
//!   of a running control-plane (it starts no server).
//!
//! At start it logs one line `{"msg":"listening","admin":…,"internal":…,"metrics":…}` with
//! the bound addresses (port 0 is allowed everywhere).

mod acme;
mod admin;
mod cli;
mod config;
mod domain_name;
mod hub;
mod internal;
mod keys;
mod metrics;
mod service;
mod settings;
mod store;
mod tls;

use std::{net::TcpListener, process::ExitCode, sync::Arc};

use actix_web::{HttpServer, web};
use anyhow::Context;
use hopgate_settings::ProcessEnv;
use slog::{Logger, error, info};

use crate::{
    config::Config,
    hub::{Hub, RECENT},
    internal::{InternalState, Pods},
    service::Domains,
    settings::Start,
    store::Store,
};

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if cli::is_admin(&args) {
        return cli::main(args);
    }
    actix_web::rt::System::new().block_on(serve(args))
}

/// The control-plane itself.
async fn serve(args: Vec<std::ffi::OsString>) -> ExitCode {
    let program = settings::SPEC.program;
    let (config, level) = match settings::load(args, &ProcessEnv) {
        Ok(Start::Run(config, level)) => (config, level),
        Ok(Start::Print(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(err) => return hopgate_settings::exit_code(program, &err),
    };
    let log = hopgate_logging::root("control-plane", level.to_slog());
    match run(*config, log.clone()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            error!(log, "control-plane stopped"; "error" => format!("{err:#}"));
            eprintln!("hopgate-control-plane: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn bind(var: &str, addr: std::net::SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).with_context(|| format!("{var}: cannot listen on {addr}"))
}

async fn run(config: Config, log: Logger) -> anyhow::Result<()> {
    let backend = store::backend_name(&config);
    let store = Store::open(&config, &log)
        .await
        .with_context(|| format!("cannot open the {backend} database"))?;
    let load = store.load_table(0, RECENT).await?;
    info!(log, "database ready"; "backend" => backend,
        "epoch" => &load.epoch, "version" => load.version, "domains" => load.domains.len());
    let hub = Arc::new(Hub::new(load));
    let domains = Arc::new(Domains::new(store.clone(), hub.clone(), log.clone()));
    let pods = Arc::new(Pods::default());
    actix_web::rt::spawn(pods.clone().expire_forever());
    actix_web::rt::spawn(domains.clone().catch_up_forever());
    let acme = acme::start(config.acme.clone(), domains.clone(), &log);

    let admin_listener = bind("HOP_ADMIN_LISTEN", config.admin_listen)?;
    let internal_listener = bind("HOP_INTERNAL_LISTEN", config.internal_listen)?;
    let metrics_listener = config
        .metrics_listen
        .map(|addr| bind("HOP_METRICS_LISTEN", addr))
        .transpose()?;

    let metrics_registry = web::Data::new(metrics::Metrics::new(&acme.stats));
    let admin_metrics = metrics_registry.clone();
    let admin_state = web::Data::new(admin::AdminState {
        domains,
        pods: pods.clone(),
        acme: acme.clone(),
        access_max_entries: config.admin_access_max_entries,
    });
    let access = web::Data::new(admin::Access {
        key: config.admin_api_key.clone(),
        allow: config.admin_allow_ips.clone(),
    });
    let admin_addr = admin_listener.local_addr()?;
    let admin = HttpServer::new(move || {
        admin::app(admin_state.clone(), access.clone(), admin_metrics.clone())
    })
    .workers(2)
    .shutdown_timeout(5)
    .listen(admin_listener)?
    .run();

    let internal_state = web::Data::new(InternalState {
        hub: hub.clone(),
        pods: pods.clone(),
        token: config.internal_token.clone(),
        metrics: metrics_registry.clone().into_inner(),
        log: log.clone(),
    });
    let internal_addr = internal_listener.local_addr()?;
    // Table streams never end by themselves: don't wait for them at shutdown.
    let internal = HttpServer::new(move || internal::app(internal_state.clone()))
        .workers(1)
        .shutdown_timeout(1);
    let internal = match &config.internal_tls {
        Some(files) => internal.listen_openssl(internal_listener, tls::acceptor(files)?)?,
        None => internal.listen(internal_listener)?,
    }
    .run();

    let mut metrics_addr = None;
    let metrics = match metrics_listener {
        Some(listener) => {
            metrics_addr = Some(listener.local_addr()?.to_string());
            let gauges = web::Data::new(metrics::Gauges {
                store,
                hub,
                pods,
                metrics: metrics_registry.into_inner(),
                gateway_domain: config.server_domain.clone(),
            });
            Some(
                HttpServer::new(move || metrics::app(gauges.clone()))
                    .workers(1)
                    .shutdown_timeout(1)
                    .listen(listener)?
                    .run(),
            )
        }
        None => None,
    };

    info!(log, "listening";
        "admin" => admin_addr.to_string(),
        "internal" => internal_addr.to_string(),
        "internal_tls" => config.internal_tls.is_some(),
        "metrics" => metrics_addr);
    let metrics = async {
        match metrics {
            Some(server) => server.await,
            None => Ok(()),
        }
    };
    tokio::try_join!(admin, internal, metrics)?;
    info!(log, "stopped");
    Ok(())
}
