//! The command line: `hopgate-agent http <TARGET> --domain D --key K --server HOST:PORT`, or
//! `hopgate-agent --config agent.toml` for the tunnels a file lists.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{ApiKey, Layer, Source, Sourced, TunnelLayer};

/// Expose a local HTTP service on a public HTTPS domain through a HopGate gateway.
///
/// Settings come from flags, then HOP_CLIENT_* environment variables, then the config
/// file, in that order of precedence.
#[derive(Debug, Parser)]
#[command(name = "hopgate-agent", version)]
pub struct Cli {
    /// What to serve; without it, the tunnels of the environment and config file.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The gateway's data-plane address, host:port (UDP) [env: HOP_CLIENT_SERVER_ADDR]
    #[arg(long, global = true, value_name = "HOST:PORT")]
    pub server: Option<String>,

    /// The public domain to serve, e.g. app.example.com [env: HOP_CLIENT_DOMAIN]
    #[arg(long, global = true, value_name = "DOMAIN")]
    pub domain: Option<String>,

    /// The domain's client API key [env: HOP_CLIENT_API_KEY, preferred: flags show in `ps`]
    #[arg(long, global = true, value_name = "KEY", value_parser = parse_key)]
    pub key: Option<ApiKey>,

    /// Pin the gateway's certificate by its SHA-256 fingerprint (required with --debug)
    /// [env: HOP_CLIENT_SERVER_FINGERPRINT]
    #[arg(long, global = true, value_name = "HEX")]
    pub fingerprint: Option<String>,

    /// Trust the CA certificates in this PEM file instead of the system's roots
    /// [env: HOP_CLIENT_CA_FILE]
    #[arg(long = "ca-file", global = true, value_name = "PATH")]
    pub ca_file: Option<PathBuf>,

    /// The name the gateway's certificate must carry (default: the host of --server)
    /// [env: HOP_CLIENT_SERVER_NAME]
    #[arg(long = "server-name", global = true, value_name = "NAME")]
    pub server_name: Option<String>,

    /// Debug mode: the gateway uses a self-signed certificate, pinned with --fingerprint
    /// [env: HOP_CLIENT_DEBUG]
    #[arg(long, global = true)]
    pub debug: bool,

    /// Seconds the local service may take to start answering once it has the whole request
    /// (default 60)
    /// [env: HOP_CLIENT_RESPONSE_TIMEOUT_SECS]
    #[arg(long = "response-timeout", global = true, value_name = "SECS")]
    pub response_timeout: Option<u64>,

    /// Log every request, not only failures [env: HOP_CLIENT_VERBOSE]
    #[arg(short, long, global = true)]
    pub verbose: bool,

    /// Serve /metrics, /healthz and /readyz on this address (off by default)
    /// [env: HOP_METRICS_LISTEN]
    #[arg(long = "metrics-listen", global = true, value_name = "ADDR")]
    pub metrics_listen: Option<String>,

    /// The lowest level of the JSON log lines on stdout: trace, debug, info (default),
    /// warning, error, critical [env: HOP_LOG_LEVEL]
    #[arg(long = "log-level", global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,

    /// A TOML config file; it may list several tunnels [env: HOP_CLIENT_CONFIG]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Print the effective settings as TOML (API keys as ***) and exit
    #[arg(long = "print-config", global = true)]
    pub print_config: bool,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Forward https://DOMAIN to a local HTTP service.
    Http {
        /// The local service: a port (3000 = 127.0.0.1:3000), host:port, or http://host:port
        /// [env: HOP_CLIENT_LOCAL_TARGET]
        #[arg(value_name = "TARGET")]
        target: String,
    },
}

fn parse_key(text: &str) -> Result<ApiKey, std::convert::Infallible> {
    Ok(ApiKey::new(text))
}

impl Cli {
    /// The settings the command line gives.
    pub fn layer(&self) -> Layer {
        fn flag<T: Clone>(value: &Option<T>, name: &'static str) -> Option<Sourced<T>> {
            value.clone().map(|v| Sourced::new(v, Source::Flag(name)))
        }
        let switch = |on: bool, name| on.then(|| Sourced::new(true, Source::Flag(name)));
        let target = self
            .command
            .as_ref()
            .map(|Command::Http { target }| Sourced::new(target.clone(), Source::Flag("TARGET")));
        Layer {
            server_addr: flag(&self.server, "--server"),
            server_name: flag(&self.server_name, "--server-name"),
            server_fingerprint: flag(&self.fingerprint, "--fingerprint"),
            ca_file: flag(&self.ca_file, "--ca-file"),
            debug: switch(self.debug, "--debug"),
            response_timeout_secs: flag(&self.response_timeout, "--response-timeout"),
            verbose: switch(self.verbose, "--verbose"),
            metrics_listen: flag(&self.metrics_listen, "--metrics-listen"),
            log_level: flag(&self.log_level, "--log-level"),
            tunnel: TunnelLayer {
                domain: flag(&self.domain, "--domain"),
                api_key: flag(&self.key, "--key"),
                local_target: target,
            },
            tunnels: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("hopgate-agent").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn the_documented_command_line() {
        let cli = parse(&[
            "http",
            "3000",
            "--domain",
            "app.example.com",
            "--key",
            "SECRET",
            "--server",
            "gw.example.com:443",
            "--fingerprint",
            "ab",
            "--server-name",
            "gw",
            "--debug",
        ]);
        let layer = cli.layer();
        assert_eq!(layer.tunnel.local_target.unwrap().value, "3000");
        assert_eq!(layer.tunnel.domain.unwrap().value, "app.example.com");
        assert_eq!(layer.tunnel.api_key.unwrap().value.expose(), "SECRET");
        assert_eq!(layer.server_addr.unwrap().source, Source::Flag("--server"));
        assert!(layer.debug.unwrap().value);
        assert_eq!(layer.server_name.unwrap().value, "gw");
        assert!(
            layer.verbose.is_none(),
            "an absent switch leaves the setting to env or file"
        );
        assert!(!format!("{cli:?}").contains("SECRET"), "{cli:?}");
    }

    #[test]
    fn flags_may_come_before_the_subcommand_and_it_is_optional() {
        let cli = parse(&["--server", "gw:1", "http", "localhost:8080"]);
        assert_eq!(cli.layer().server_addr.unwrap().value, "gw:1");
        let cli = parse(&["--config", "agent.toml"]);
        assert!(cli.command.is_none());
        assert_eq!(cli.config.unwrap(), PathBuf::from("agent.toml"));
    }

    #[test]
    fn a_usage_error_is_refused() {
        assert!(Cli::try_parse_from(["hopgate-agent", "http"]).is_err());
        assert!(Cli::try_parse_from(["hopgate-agent", "--no-such-flag"]).is_err());
        assert!(
            Cli::try_parse_from(["hopgate-agent", "http", "3000", "--response-timeout", "x"])
                .is_err()
        );
    }
}
