//! Unit tests of the settings: defaults, parse errors and `validate()` messages.

use std::collections::HashMap;

use super::*;

const ADMIN: &str = "admin-key-0123456789";
const TOKEN: &str = "internal-token-0123456789";

fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut map: HashMap<String, String> =
        [("HOP_ADMIN_API_KEY", ADMIN), ("HOP_INTERNAL_TOKEN", TOKEN)]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    for (k, v) in pairs {
        map.insert(k.to_string(), v.to_string());
    }
    let mut config = Config::from_lookup(&|var| map.get(var).cloned())?;
    config.validate()?;
    Ok(config)
}

fn error(pairs: &[(&str, &str)]) -> ConfigError {
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
}

#[test]
fn secrets_are_required_long_and_hidden() {
    let e = error(&[("HOP_ADMIN_API_KEY", "")]);
    assert_eq!(e.var, "HOP_ADMIN_API_KEY");
    assert!(e.to_string().contains("required"), "{e}");
    let e = error(&[("HOP_ADMIN_API_KEY", "short")]);
    assert!(e.to_string().contains("too short"), "{e}");
    assert_eq!(
        error(&[("HOP_INTERNAL_TOKEN", "x")]).var,
        "HOP_INTERNAL_TOKEN"
    );
    assert_eq!(
        error(&[("HOP_INTERNAL_TOKEN", ADMIN)]).var,
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
    ] {
        let e = error(&[(var, value)]);
        assert_eq!(e.var, var, "{var}={value}: {e}");
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
