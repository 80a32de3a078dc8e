//! Unit tests of the settings: layering and fixture files here; `validate()`'s messages in
//! `routing_source` (the control-plane, the relay and trust between pods) and `limits`.

use super::*;

mod limits;
mod routing_source;

const RELAY_TOKEN: &str = "relay-token-0123456789abcdef0123456789";

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/config");

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

/// Loads and validates `args` (after the program name) with `env`.
fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<Config, String> {
    let mut argv = vec!["dp"];
    argv.extend_from_slice(args);
    load(argv, &env).map(|l| l.value).map_err(|e| e.to_string())
}

#[test]
fn the_valid_fixture_sets_every_value() {
    let c = parse(&["--config", &fixture("valid.toml")], &[]).unwrap();
    assert_eq!(c.https_listen.to_string(), "127.0.0.1:8443");
    assert_eq!(c.http_listen.port(), 8080);
    assert_eq!(c.domain, "gw.example.test");
    assert!(c.debug);
    assert_eq!(c.dev_domains[0].domain, "app.example.test");
    assert_eq!(c.placement_wait, Duration::from_millis(1500));
    assert_eq!(c.header_timeout, Duration::from_secs(5));
    assert_eq!(c.drain_timeout, Duration::from_secs(60));
    assert_eq!(c.agent_unheard_after, Duration::from_secs(6));
    assert_eq!(c.response_timeout, Duration::from_secs(90));
    assert_eq!(c.stream_wait, Duration::from_secs(2));
    assert_eq!(c.body_timeout, Duration::from_secs(20));
    assert_eq!(
        (c.max_requests_per_domain, c.max_requests_per_client),
        (500, 50)
    );
    assert_eq!(c.tls_handshake_timeout, Duration::from_secs(2));
    assert_eq!(c.tls_ticket_key_rotation, Duration::from_secs(1800));
    assert_eq!(
        (c.max_connections_per_ip, c.max_handshakes_per_ip),
        (100, 10)
    );
    assert_eq!(
        c.h2_limits(),
        actix_http::H2Limits {
            max_concurrent_streams: Some(64),
            max_header_list_size: Some(32768),
            max_pending_accept_reset_streams: Some(10),
            max_local_error_reset_streams: Some(100),
        }
    );
    assert_eq!(c.dtls_handshakes_per_ip, 4);
    assert_eq!(c.dtls_handshake_timeout, Duration::from_secs(3));
    assert_eq!(c.hello_timeout, Duration::from_secs(2));
    assert_eq!(c.hello_receive_window, 32768);
    assert_eq!(c.log_level, LogLevel::Debug);
}

#[test]
fn invalid_fixtures_name_the_file_and_key() {
    let err = parse(&["--config", &fixture("unknown_key.toml")], &[]).unwrap_err();
    assert!(
        err.contains("unknown_key.toml") && err.contains("`https_port`"),
        "{err}"
    );
    let err = parse(&["--config", &fixture("bad_address.toml")], &[]).unwrap_err();
    assert!(
        err.contains("bad_address.toml: https_listen: 'localhost' is not a socket address"),
        "{err}"
    );
}

#[test]
fn the_deploy_example_parses() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/config/data-plane.toml"
    );
    let env = [
        ("HOP_INTERNAL_TOKEN", "internal-token-0123456789"),
        ("HOP_RELAY_TOKEN", RELAY_TOKEN),
    ];
    let c = parse(&["--config", path], &env).unwrap();
    assert!(!c.debug && c.control_plane_url.is_some());
}

#[test]
fn precedence_defaults_file_env_flags() {
    let file = fixture("valid.toml");
    assert_eq!(Config::default().https_listen.port(), 443);
    let with_file = parse(&["--config", &file], &[]).unwrap();
    assert_eq!(with_file.https_listen.port(), 8443);
    let env = [("HOP_SERVER_HTTPS_LISTEN", "127.0.0.1:9443")];
    assert_eq!(
        parse(&["--config", &file], &env)
            .unwrap()
            .https_listen
            .port(),
        9443
    );
    let flags = ["--config", &file, "--https-listen", "127.0.0.1:10443"];
    assert_eq!(parse(&flags, &env).unwrap().https_listen.port(), 10443);
}

#[test]
fn durations() {
    let env = |v| {
        [
            ("HOP_SERVER_DOMAIN", "gw.test"),
            ("HOP_SERVER_DEBUG", "true"),
            ("HOP_SERVER_HEADER_TIMEOUT", v),
        ]
    };
    let timeout = |v| parse(&[], &env(v)).map(|c| c.header_timeout);
    assert_eq!(timeout("250ms").unwrap(), Duration::from_millis(250));
    assert_eq!(timeout("30").unwrap(), Duration::from_secs(30));
    assert_eq!(timeout("2m").unwrap(), Duration::from_secs(120));
    assert!(
        timeout("soon")
            .unwrap_err()
            .starts_with("HOP_SERVER_HEADER_TIMEOUT")
    );
    assert!(timeout("0").unwrap_err().contains("positive"));
}

#[test]
fn bad_address_names_the_setting() {
    let err = parse(
        &["--domain", "gw.test", "--debug", "--https-listen", "abc"],
        &[],
    )
    .unwrap_err();
    assert!(
        err.starts_with("--https-listen: 'abc' is not a socket address"),
        "{err}"
    );
    let env = [("HOP_SERVER_HTTPS_LISTEN", "abc")];
    let err = parse(&["--domain", "gw.test", "--debug"], &env).unwrap_err();
    assert!(
        err.starts_with("HOP_SERVER_HTTPS_LISTEN: 'abc' is not"),
        "{err}"
    );
}

#[test]
fn print_config_masks_the_token_and_dev_keys() {
    let env = [
        ("HOP_SERVER_DOMAIN", "gw.test"),
        ("HOP_SERVER_DEBUG", "true"),
        ("HOP_CONTROL_PLANE_URL", "http://127.0.0.1:1"),
        ("HOP_INTERNAL_TOKEN", "very-secret-token-0123"),
        ("HOP_RELAY_TOKEN", RELAY_TOKEN),
    ];
    let loaded = load(["dp", "--print-config"], &&env[..]).unwrap();
    assert!(loaded.print_config);
    let text = loaded.to_toml().unwrap();
    assert!(text.contains("internal_token = \"***\""), "{text}");
    assert!(text.contains("relay_token = \"***\""), "{text}");
    assert!(
        !text.contains("very-secret") && !text.contains(RELAY_TOKEN),
        "{text}"
    );
    let dev = [
        ("HOP_SERVER_DOMAIN", "gw.test"),
        ("HOP_SERVER_DEBUG", "true"),
        ("HOP_DEV_DOMAINS", "a.test=0123456789abcdef0"),
    ];
    let text = load(["dp"], &&dev[..]).unwrap().to_toml().unwrap();
    assert!(
        text.contains("\"a.test=***\"") && !text.contains("0123456789abcdef0"),
        "{text}"
    );
}
