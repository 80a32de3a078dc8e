//! Unit tests of the settings: layering, fixture files, and `validate()` messages.

use super::*;

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
fn dev_domain_parses_and_hides_the_key() {
    let d: DevDomain = "App.Example.COM=0123456789abcdef0123".parse().unwrap();
    assert_eq!(d.domain, "app.example.com");
    assert!(!format!("{d:?}").contains("0123456789"));
    assert!("app.example.com".parse::<DevDomain>().is_err());
    assert!("app.example.com=short".parse::<DevDomain>().is_err());
}

#[test]
fn the_valid_fixture_sets_every_value() {
    let c = parse(&["--config", &fixture("valid.toml")], &[]).unwrap();
    assert_eq!(c.https_listen.to_string(), "127.0.0.1:8443");
    assert_eq!(c.http_listen.port(), 8080);
    assert_eq!(c.domain, "gw.example.test");
    assert!(c.debug);
    assert_eq!(c.dev_domains[0].domain, "app.example.test");
    assert_eq!(c.header_timeout, Duration::from_secs(5));
    assert_eq!(c.drain_timeout, Duration::from_secs(60));
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
fn production_mode_needs_the_control_plane() {
    let parse = |extra: &[&str]| {
        let mut args = vec!["--domain", "gw.test"];
        args.extend_from_slice(extra);
        parse(&args, &[])
    };
    assert!(parse(&[]).unwrap_err().starts_with("HOP_CONTROL_PLANE_URL"));
    let cp = [
        "--control-plane-url",
        "http://127.0.0.1:1",
        "--internal-token",
        "t",
        "--relay-token",
        RELAY_TOKEN,
    ];
    assert!(parse(&cp).is_ok());
    assert!(parse(&["--dev-domain", "a.test=0123456789abcdef"]).is_err());
    let err = self::parse(&[], &[]).unwrap_err();
    assert!(err.starts_with("HOP_SERVER_DOMAIN: required"), "{err}");
}

#[test]
fn a_control_plane_needs_its_token_and_excludes_the_dev_table() {
    let parse = |extra: &[&str]| {
        let mut args = vec!["--domain", "gw.test", "--debug"];
        args.extend_from_slice(extra);
        parse(&args, &[])
    };
    let url = ["--control-plane-url", "http://127.0.0.1:1"];
    let err = parse(&url).unwrap_err();
    assert!(err.starts_with("HOP_INTERNAL_TOKEN"), "{err}");
    let mut both = url.to_vec();
    both.extend([
        "--internal-token",
        "t0ken",
        "--dev-domain",
        "a.test=0123456789abcdef",
    ]);
    assert!(parse(&both).unwrap_err().starts_with("--dev-domain"));
    let err = parse(&["--control-plane-url", "ftp://x", "--internal-token", "t"]).unwrap_err();
    assert!(err.starts_with("--control-plane-url: 'ftp://x'"), "{err}");
    let mut ok = url.to_vec();
    ok.extend(["--internal-token", "t0ken", "--relay-token", RELAY_TOKEN]);
    let mut bad = ok.clone();
    ok.extend(["--pod-id", "pod-1"]);
    assert!(parse(&ok).is_ok());
    bad.extend(["--pod-id", "bad pod"]);
    assert!(parse(&bad).unwrap_err().starts_with("--pod-id"));
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

#[test]
fn the_relay_listener_is_on_in_production_and_checked() {
    let cp = [
        "--domain",
        "gw.test",
        "--control-plane-url",
        "http://127.0.0.1:1",
        "--internal-token",
        "t",
        "--relay-token",
        RELAY_TOKEN,
    ];
    let with = |extra: &[&str]| {
        let mut args = cp.to_vec();
        args.extend_from_slice(extra);
        parse(&args, &[])
    };
    let relay = |extra: &[&str]| with(extra).unwrap().relay_listen().unwrap();
    assert_eq!(relay(&[]), Some("0.0.0.0:8444".parse().unwrap()));
    assert_eq!(relay(&["--relay-listen", "off"]), None);
    let debug = parse(&["--domain", "gw.test", "--debug"], &[]).unwrap();
    assert_eq!(debug.relay_listen(), Ok(None));
    let err = with(&["--relay-listen", "nope"]).unwrap_err();
    assert!(err.starts_with("--relay-listen: 'nope'"), "{err}");
    let env = [("HOP_SERVER_RELAY_LISTEN", "127.0.0.1:0")];
    let err = parse(&["--domain", "gw.test", "--debug"], &env).unwrap_err();
    assert!(err.starts_with("HOP_SERVER_RELAY_LISTEN: needs"), "{err}");
    let err = with(&["--relay-port", "0"]).unwrap_err();
    assert!(err.starts_with("--relay-port: must be"), "{err}");
    assert_eq!(
        with(&["--relay-port", "30444"]).unwrap().relay_port,
        Some(30444)
    );
}

#[test]
fn the_relay_token_is_required_long_and_not_the_internal_token() {
    let base = [
        "--domain",
        "gw.test",
        "--control-plane-url",
        "http://127.0.0.1:1",
        "--internal-token",
        "internal-token-0123456789abcdef0123456789",
    ];
    let with = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        parse(&args, &[])
    };
    let err = with(&[]).unwrap_err();
    assert!(err.starts_with("HOP_RELAY_TOKEN: required"), "{err}");
    let err = with(&["--relay-token", "short-relay-token"]).unwrap_err();
    assert!(err.starts_with("--relay-token: too short"), "{err}");
    let err = with(&["--relay-token", base[5]]).unwrap_err();
    assert!(err.starts_with("--relay-token: must differ"), "{err}");
    let ok = with(&["--relay-token", RELAY_TOKEN]).unwrap();
    assert_eq!(ok.relay_token.unwrap().expose(), RELAY_TOKEN);
    // A debug pod without a control-plane neither relays nor is relayed to.
    assert!(parse(&["--domain", "gw.test", "--debug"], &[]).is_ok());
}

#[test]
fn tls_settings_come_in_pairs_and_need_what_they_secure() {
    let base = [
        "--domain",
        "gw.test",
        "--control-plane-url",
        "http://127.0.0.1:1",
        "--internal-token",
        "t0ken",
        "--relay-token",
        RELAY_TOKEN,
    ];
    let with = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        parse(&args, &[])
    };
    let err = with(&["--relay-tls-cert", "/c.pem"]).unwrap_err();
    assert!(err.starts_with("HOP_RELAY_TLS_KEY: required"), "{err}");
    let pair = ["--relay-tls-cert", "/c.pem", "--relay-tls-key", "/k.pem"];
    let err = with(&pair).unwrap_err();
    assert!(err.starts_with("HOP_RELAY_CA: required"), "{err}");
    let mut full = pair.to_vec();
    full.extend(["--relay-ca", "/ca.pem"]);
    let ok = with(&full).unwrap();
    assert_eq!(ok.relay_server_name, "hopgate-relay");
    full.extend(["--relay-listen", "off"]);
    let err = with(&full).unwrap_err();
    assert!(
        err.starts_with("--relay-tls-cert: needs the relay listener"),
        "{err}"
    );
    let err = with(&["--relay-server-name", "not a name"]).unwrap_err();
    assert!(err.starts_with("--relay-server-name"), "{err}");
    let err = with(&["--control-plane-ca", "/ca.pem"]).unwrap_err();
    assert!(
        err.starts_with("--control-plane-ca: needs an https://"),
        "{err}"
    );
    let mut https = base.to_vec();
    https[3] = "https://cp.test:8082";
    https.extend(["--control-plane-ca", "/ca.pem"]);
    assert!(parse(&https, &[]).is_ok());
}

#[test]
fn request_limits_have_defaults_and_are_checked() {
    let base = [
        ("HOP_SERVER_DOMAIN", "gw.test"),
        ("HOP_SERVER_DEBUG", "true"),
    ];
    let defaults = parse(&[], &base).unwrap();
    assert_eq!(defaults.stream_wait, Duration::from_secs(5));
    assert_eq!(defaults.body_timeout, Duration::from_secs(30));
    assert_eq!(defaults.max_requests_per_domain, 768);
    assert_eq!(defaults.max_requests_per_client, 384);
    let with = |name, value| {
        let mut env = base.to_vec();
        env.push((name, value));
        parse(&[], &env)
    };
    let set = with("HOP_SERVER_MAX_REQUESTS_PER_CLIENT", "16").unwrap();
    assert_eq!(set.max_requests_per_client, 16);
    let set = with("HOP_SERVER_BODY_TIMEOUT", "2s").unwrap();
    assert_eq!(set.body_timeout, Duration::from_secs(2));
    for name in [
        "HOP_SERVER_STREAM_WAIT",
        "HOP_SERVER_BODY_TIMEOUT",
        "HOP_SERVER_MAX_REQUESTS_PER_DOMAIN",
        "HOP_SERVER_MAX_REQUESTS_PER_CLIENT",
    ] {
        let err = with(name, "0").unwrap_err();
        assert!(err.starts_with(name), "{err}");
    }
    let err = with("HOP_SERVER_MAX_REQUESTS_PER_DOMAIN", "many").unwrap_err();
    assert!(
        err.starts_with("HOP_SERVER_MAX_REQUESTS_PER_DOMAIN"),
        "{err}"
    );
}

#[test]
fn connection_limits_have_defaults_and_are_checked() {
    let base = [
        ("HOP_SERVER_DOMAIN", "gw.test"),
        ("HOP_SERVER_DEBUG", "true"),
    ];
    let defaults = parse(&[], &base).unwrap();
    assert_eq!(defaults.tls_handshake_timeout, Duration::from_secs(3));
    assert_eq!(defaults.tls_ticket_key_rotation, Duration::from_secs(3600));
    assert_eq!(defaults.max_connections_per_ip, 256);
    assert_eq!(defaults.max_handshakes_per_ip, 32);
    let h2 = defaults.h2_limits();
    assert_eq!(h2.max_concurrent_streams, Some(128));
    assert_eq!(h2.max_header_list_size, Some(131072));
    assert_eq!(h2.max_pending_accept_reset_streams, Some(20));
    assert_eq!(h2.max_local_error_reset_streams, Some(256));
    let with = |settings: &[(&'static str, &'static str)]| {
        let mut env = base.to_vec();
        env.extend_from_slice(settings);
        parse(&[], &env)
    };
    let set = with(&[
        ("HOP_SERVER_TLS_HANDSHAKE_TIMEOUT", "500ms"),
        ("HOP_SERVER_MAX_CONNECTIONS_PER_IP", "8"),
        ("HOP_SERVER_MAX_HANDSHAKES_PER_IP", "8"),
        ("HOP_SERVER_H2_MAX_CONCURRENT_STREAMS", "16"),
    ])
    .unwrap();
    assert_eq!(set.tls_handshake_timeout, Duration::from_millis(500));
    assert_eq!(
        (set.max_connections_per_ip, set.max_handshakes_per_ip),
        (8, 8)
    );
    assert_eq!(set.h2_limits().max_concurrent_streams, Some(16));
    for name in [
        "HOP_SERVER_TLS_HANDSHAKE_TIMEOUT",
        "HOP_SERVER_MAX_CONNECTIONS_PER_IP",
        "HOP_SERVER_MAX_HANDSHAKES_PER_IP",
        "HOP_SERVER_H2_MAX_CONCURRENT_STREAMS",
        "HOP_SERVER_H2_MAX_PENDING_RESETS",
        "HOP_SERVER_H2_MAX_ERROR_RESETS",
        "HOP_SERVER_H2_MAX_HEADER_LIST_SIZE",
    ] {
        let err = with(&[(name, "0")]).unwrap_err();
        assert!(err.starts_with(name), "{err}");
    }
    let err = with(&[
        ("HOP_SERVER_MAX_CONNECTIONS_PER_IP", "8"),
        ("HOP_SERVER_MAX_HANDSHAKES_PER_IP", "9"),
    ])
    .unwrap_err();
    assert!(
        err.starts_with("HOP_SERVER_MAX_HANDSHAKES_PER_IP: 9 is above"),
        "{err}"
    );
    // 0 turns resumption off; keys may live at most as long as OpenSSL's sessions.
    let off = with(&[("HOP_SERVER_TLS_TICKET_KEY_ROTATION", "0s")]).unwrap();
    assert!(off.tls_ticket_key_rotation.is_zero());
    let err = with(&[("HOP_SERVER_TLS_TICKET_KEY_ROTATION", "3h")]).unwrap_err();
    assert!(
        err.starts_with("HOP_SERVER_TLS_TICKET_KEY_ROTATION"),
        "{err}"
    );
}

#[test]
fn agent_limits_have_defaults_and_are_checked() {
    let base = [
        ("HOP_SERVER_DOMAIN", "gw.test"),
        ("HOP_SERVER_DEBUG", "true"),
    ];
    let defaults = parse(&[], &base).unwrap();
    assert_eq!(defaults.dtls_handshakes_per_ip, 8);
    assert_eq!(defaults.dtls_migration_candidates, 8);
    assert_eq!(defaults.dtls_migration_trials_per_ip, 32);
    assert_eq!(defaults.dtls_handshake_timeout, Duration::from_secs(5));
    assert_eq!(defaults.hello_timeout, Duration::from_secs(5));
    assert_eq!(defaults.hello_receive_window, 65536);
    assert_eq!(defaults.max_pool_sessions, 16);
    assert_eq!(defaults.tcp_send_queue_bytes, 4 * 1024 * 1024);
    let with = |name, value| {
        let mut env = base.to_vec();
        env.push((name, value));
        parse(&[], &env)
    };
    let set = with("HOP_SERVER_DTLS_HANDSHAKES_PER_IP", "2").unwrap();
    assert_eq!(set.dtls_handshakes_per_ip, 2);
    let set = with("HOP_SERVER_DTLS_MIGRATION_CANDIDATES", "0").unwrap();
    assert_eq!(set.dtls_migration_candidates, 0);
    let set = with("HOP_SERVER_DTLS_MIGRATION_TRIALS_PER_IP", "100").unwrap();
    assert_eq!(set.dtls_migration_trials_per_ip, 100);
    let set = with("HOP_SERVER_HELLO_TIMEOUT", "1500ms").unwrap();
    assert_eq!(set.hello_timeout, Duration::from_millis(1500));
    let set = with("HOP_SERVER_MAX_POOL_SESSIONS", "2").unwrap();
    assert_eq!(set.max_pool_sessions, 2);
    for (name, value) in [
        ("HOP_SERVER_MAX_POOL_SESSIONS", "0"),
        ("HOP_SERVER_MAX_POOL_SESSIONS", "100000"),
        ("HOP_SERVER_DTLS_HANDSHAKES_PER_IP", "0"),
        ("HOP_SERVER_DTLS_HANDSHAKES_PER_IP", "5000"),
        ("HOP_SERVER_DTLS_MIGRATION_CANDIDATES", "65"),
        ("HOP_SERVER_DTLS_MIGRATION_TRIALS_PER_IP", "0"),
        ("HOP_SERVER_DTLS_MIGRATION_TRIALS_PER_IP", "10001"),
        ("HOP_SERVER_DTLS_HANDSHAKE_TIMEOUT", "0"),
        ("HOP_SERVER_DTLS_HANDSHAKE_TIMEOUT", "2m"),
        ("HOP_SERVER_HELLO_TIMEOUT", "0"),
        ("HOP_SERVER_HELLO_TIMEOUT", "1h"),
        ("HOP_SERVER_HELLO_RECEIVE_WINDOW", "1000"),
        ("HOP_SERVER_HELLO_RECEIVE_WINDOW", "33554432"),
        ("HOP_SERVER_TCP_SEND_QUEUE_BYTES", "1000"),
        ("HOP_SERVER_TCP_SEND_QUEUE_BYTES", "1073741824"),
    ] {
        let err = with(name, value).unwrap_err();
        assert!(err.starts_with(name), "{name}={value}: {err}");
    }
}
