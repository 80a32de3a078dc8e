//! `validate()`'s messages about where the routing table comes from: production needs the
//! control-plane and its token, the relay listener and its token, TLS between pods.

use super::*;

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
