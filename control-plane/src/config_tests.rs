//! Unit tests of the settings: defaults, parse errors, `validate()` messages, fixture files.

use hopgate_settings::{SettingsError, values::parse_duration};

use super::*;
use crate::settings::{Start, load};

const ADMIN: &str = "admin-key-0123456789";
const TOKEN: &str = "internal-token-0123456789";
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/config");

/// Loads `args` (after the program name) with the two secrets and `pairs` in the
/// environment; `Err` = (the named setting, the whole message).
fn load_with(args: &[&str], pairs: &[(&str, &str)]) -> Result<Start, (String, String)> {
    let mut env = vec![("HOP_ADMIN_API_KEY", ADMIN), ("HOP_INTERNAL_TOKEN", TOKEN)];
    env.extend_from_slice(pairs);
    let mut argv = vec!["cp"];
    argv.extend_from_slice(args);
    load(argv, &&env[..]).map_err(|e| match &e {
        SettingsError::Invalid { setting, .. } => (setting.clone(), e.to_string()),
        other => (String::new(), other.to_string()),
    })
}

fn config(pairs: &[(&str, &str)]) -> Result<Config, (String, String)> {
    match load_with(&[], pairs)? {
        Start::Run(config, _) => Ok(*config),
        Start::Print(_) => unreachable!(),
    }
}

fn error(pairs: &[(&str, &str)]) -> (String, String) {
    config(pairs).unwrap_err()
}

#[test]
fn defaults() {
    let c = config(&[]).unwrap();
    assert_eq!(c.admin_listen.to_string(), "127.0.0.1:8081");
    assert_eq!(c.internal_listen.to_string(), "127.0.0.1:8082");
    assert_eq!(c.metrics_listen, None);
    assert!(c.db.dsn.is_none());
    assert_eq!(c.state_dir, PathBuf::from("./state"));
    assert_eq!((c.db.max_open, c.db.max_idle), (10, 2));
    assert_eq!(c.db.max_lifetime, Some(Duration::from_secs(1800)));
    assert!(c.admin_allow_ips.is_empty());
    assert!(c.acme.is_none());
}

#[test]
fn secrets_are_required_long_and_hidden() {
    let (var, e) = error(&[("HOP_ADMIN_API_KEY", "")]);
    assert_eq!(var, "HOP_ADMIN_API_KEY");
    assert!(e.contains("required"), "{e}");
    let (_, e) = error(&[("HOP_ADMIN_API_KEY", "short")]);
    assert!(e.contains("too short"), "{e}");
    assert_eq!(
        error(&[("HOP_INTERNAL_TOKEN", "x")]).0,
        "HOP_INTERNAL_TOKEN"
    );
    assert_eq!(
        error(&[("HOP_INTERNAL_TOKEN", ADMIN)]).0,
        "HOP_INTERNAL_TOKEN"
    );
    let c = config(&[]).unwrap();
    let debug = format!("{c:?}");
    assert!(!debug.contains(ADMIN) && !debug.contains(TOKEN), "{debug}");
}

#[test]
fn bad_values_name_the_variable() {
    for (var, value) in [
        ("HOP_ADMIN_LISTEN", "nowhere"),
        ("HOP_INTERNAL_LISTEN", "1.2.3.4"),
        ("HOP_METRICS_LISTEN", "x:y"),
        ("HOP_DB_MAX_OPEN_CONNS", "-1"),
        ("HOP_DB_MAX_OPEN_CONNS", "0"),
        ("HOP_DB_MAX_IDLE_CONNS", "50"),
        ("HOP_DB_CONN_MAX_LIFETIME", "soon"),
        ("HOP_DB_DSN", "mysql://x"),
        ("HOP_DB_DSN", "sqlite::memory:"),
        ("HOP_ADMIN_ALLOW_IPS", "10.0.0.0/8, bogus"),
        ("HOP_LOG_LEVEL", "loud"),
    ] {
        let (named, e) = error(&[(var, value)]);
        assert_eq!(named, var, "{var}={value}: {e}");
    }
}

#[test]
fn values_parse() {
    let c = config(&[
        ("HOP_ADMIN_LISTEN", "127.0.0.1:0"),
        ("HOP_METRICS_LISTEN", "127.0.0.1:0"),
        ("HOP_DB_DSN", "postgres://u:p@db/x"),
        ("HOP_DB_CONN_MAX_LIFETIME", "0"),
        ("HOP_ADMIN_ALLOW_IPS", "10.0.0.0/8, 127.0.0.1,::1"),
    ])
    .unwrap();
    assert_eq!(c.admin_listen.port(), 0);
    assert!(c.metrics_listen.is_some());
    assert_eq!(c.db.max_lifetime, None);
    assert_eq!(c.admin_allow_ips.len(), 3);
    assert!(
        !format!("{c:?}").contains("u:p@"),
        "the DSN may hold a password"
    );
}

#[test]
fn durations() {
    assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
    assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
    assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
    assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
    assert!(parse_duration("later").is_err());
}

#[test]
fn the_valid_fixture_sets_every_table() {
    let file = format!("{FIXTURES}/valid.toml");
    let c = match load_with(&["--config", &file], &[]).unwrap() {
        Start::Run(c, level) => {
            assert_eq!(level, hopgate_settings::LogLevel::Warn);
            c
        }
        Start::Print(_) => unreachable!(),
    };
    assert_eq!(c.admin_listen.to_string(), "127.0.0.1:18081");
    assert_eq!(c.admin_allow_ips.len(), 2);
    assert_eq!(c.db.max_open, 20);
    assert_eq!(c.db.acquire_timeout, Duration::from_secs(3));
    assert_eq!(c.server_domain.as_deref(), Some("gw.example.test"));
    let acme = c.acme.unwrap();
    assert_eq!(acme.email.as_deref(), Some("ops@example.test"));
    assert_eq!(acme.retry_min, Duration::from_secs(10));
}

#[test]
fn invalid_fixtures_name_the_file_and_key() {
    let file = format!("{FIXTURES}/unknown_key.toml");
    let (_, e) = load_with(&["--config", &file], &[]).unwrap_err();
    assert!(
        e.contains("unknown_key.toml") && e.contains("`db.max_open`"),
        "{e}"
    );
    let file = format!("{FIXTURES}/bad_dsn.toml");
    let (named, e) = load_with(&["--config", &file], &[]).unwrap_err();
    assert!(named.ends_with("bad_dsn.toml: db.dsn"), "{e}");
    assert!(e.contains("postgres://"), "{e}");
}

#[test]
fn the_deploy_example_parses() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/config/control-plane.toml"
    );
    assert!(matches!(
        load_with(&["--config", file], &[]),
        Ok(Start::Run(..))
    ));
}

#[test]
fn print_config_masks_every_secret() {
    let pairs = [("HOP_DB_DSN", "postgres://user:pa55word@db/x")];
    let Start::Print(text) = load_with(&["--print-config"], &pairs).unwrap() else {
        panic!("--print-config prints");
    };
    for secret in [ADMIN, TOKEN, "pa55word"] {
        assert!(!text.contains(secret), "{text}");
    }
    assert!(text.contains("admin_api_key = \"***\""), "{text}");
    assert!(text.contains("dsn = \"***\""), "{text}");
    assert!(text.contains("admin_listen = \"127.0.0.1:8081\""), "{text}");
}

#[test]
fn internal_tls_needs_both_files() {
    assert_eq!(config(&[]).unwrap().internal_tls, None);
    let both = config(&[
        ("HOP_INTERNAL_TLS_CERT", "/etc/tls/tls.crt"),
        ("HOP_INTERNAL_TLS_KEY", "/etc/tls/tls.key"),
    ])
    .unwrap();
    assert_eq!(
        both.internal_tls,
        Some(TlsFiles {
            cert: "/etc/tls/tls.crt".into(),
            key: "/etc/tls/tls.key".into(),
        })
    );
    let (var, e) = error(&[("HOP_INTERNAL_TLS_CERT", "/etc/tls/tls.crt")]);
    assert_eq!(var, "HOP_INTERNAL_TLS_KEY", "{e}");
    let (var, e) = error(&[("HOP_INTERNAL_TLS_KEY", "/etc/tls/tls.key")]);
    assert_eq!(var, "HOP_INTERNAL_TLS_CERT", "{e}");
}
