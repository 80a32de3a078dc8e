//! The limits' defaults, overrides and `validate()`'s messages: per request, per
//! connection, per agent before its hello, and the wait for the other pods' placements.

use super::*;

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
    assert_eq!(defaults.max_connections, 50_000);
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
        ("HOP_SERVER_MAX_CONNECTIONS", "1000"),
        ("HOP_SERVER_MAX_CONNECTIONS_PER_IP", "8"),
        ("HOP_SERVER_MAX_HANDSHAKES_PER_IP", "8"),
        ("HOP_SERVER_H2_MAX_CONCURRENT_STREAMS", "16"),
    ])
    .unwrap();
    assert_eq!(set.tls_handshake_timeout, Duration::from_millis(500));
    assert_eq!(set.max_connections, 1000);
    assert_eq!(
        (set.max_connections_per_ip, set.max_handshakes_per_ip),
        (8, 8)
    );
    assert_eq!(set.h2_limits().max_concurrent_streams, Some(16));
    for name in [
        "HOP_SERVER_TLS_HANDSHAKE_TIMEOUT",
        "HOP_SERVER_MAX_CONNECTIONS",
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
    assert_eq!(defaults.dtls_handshakes_per_s, 500);
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
    let set = with("HOP_SERVER_DTLS_HANDSHAKES_PER_S", "2000").unwrap();
    assert_eq!(set.dtls_handshakes_per_s, 2000);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    assert_eq!(defaults.dtls_socket_count(), cores, "one socket per core");
    assert_eq!(defaults.dtls_handshake_burst, 50);
    let set = with("HOP_SERVER_DTLS_HANDSHAKE_BURST", "50").unwrap();
    assert_eq!(set.dtls_handshake_burst, 50);
    let set = with("HOP_SERVER_DTLS_SOCKETS", "3").unwrap();
    assert_eq!(set.dtls_socket_count(), 3);
    let set = with("HOP_SERVER_HTTPS_WORKERS", "3").unwrap();
    assert_eq!(set.https_worker_count(), 3);
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
        ("HOP_SERVER_DTLS_HANDSHAKES_PER_S", "0"),
        ("HOP_SERVER_DTLS_HANDSHAKES_PER_S", "100001"),
        ("HOP_SERVER_DTLS_SOCKETS", "257"),
        ("HOP_SERVER_HTTPS_WORKERS", "257"),
        ("HOP_SERVER_DTLS_HANDSHAKE_BURST", "0"),
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

#[test]
fn the_placement_wait_has_a_default_and_is_checked() {
    let base = [
        ("HOP_SERVER_DOMAIN", "gw.test"),
        ("HOP_SERVER_DEBUG", "true"),
    ];
    assert_eq!(
        parse(&[], &base).unwrap().placement_wait,
        Duration::from_secs(3)
    );
    let with = |value| {
        let mut env = base.to_vec();
        env.push(("HOP_SERVER_PLACEMENT_WAIT", value));
        parse(&[], &env)
    };
    assert_eq!(
        with("750ms").unwrap().placement_wait,
        Duration::from_millis(750)
    );
    assert_eq!(with("1m").unwrap().placement_wait, Duration::from_secs(60));
    let flag = parse(
        &["--domain", "gw.test", "--debug", "--placement-wait", "10s"],
        &[],
    );
    assert_eq!(flag.unwrap().placement_wait, Duration::from_secs(10));
    for value in ["0", "61s"] {
        let err = with(value).unwrap_err();
        assert!(
            err.starts_with("HOP_SERVER_PLACEMENT_WAIT: must be"),
            "{value}: {err}"
        );
    }
}

#[test]
fn the_agent_unheard_limit_has_a_default_and_exceeds_the_keepalive() {
    let base = [
        ("HOP_SERVER_DOMAIN", "gw.test"),
        ("HOP_SERVER_DEBUG", "true"),
    ];
    assert_eq!(
        parse(&[], &base).unwrap().agent_unheard_after,
        Duration::from_secs(4)
    );
    let with = |value| {
        let mut env = base.to_vec();
        env.push(("HOP_SERVER_AGENT_UNHEARD_AFTER", value));
        parse(&[], &env)
    };
    assert_eq!(
        with("3500ms").unwrap().agent_unheard_after,
        Duration::from_millis(3500)
    );
    assert_eq!(
        with("1m").unwrap().agent_unheard_after,
        Duration::from_secs(60)
    );
    let flag = parse(
        &[
            "--domain",
            "gw.test",
            "--debug",
            "--agent-unheard-after",
            "10s",
        ],
        &[],
    );
    assert_eq!(flag.unwrap().agent_unheard_after, Duration::from_secs(10));
    for value in ["0", "3s", "61s"] {
        let err = with(value).unwrap_err();
        assert!(
            err.starts_with("HOP_SERVER_AGENT_UNHEARD_AFTER: must be longer than"),
            "{value}: {err}"
        );
    }
}
