//! Checking: every bad setting is refused, named by where its value came from.

use hopgate_test_support::TempDir;

use super::{tunnels::check_domain, *};

const FINGERPRINT: &str = "AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB";

/// A good configuration, from the environment; flags override it.
fn good_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("HOP_CLIENT_SERVER_ADDR", "127.0.0.1:4433"),
        ("HOP_CLIENT_SERVER_FINGERPRINT", FINGERPRINT),
        ("HOP_CLIENT_DEBUG", "true"),
        ("HOP_CLIENT_DOMAIN", "app.example.com"),
        ("HOP_CLIENT_API_KEY", "k-123"),
        ("HOP_CLIENT_LOCAL_TARGET", "3000"),
    ]
}

fn without(names: &[&str]) -> Vec<(&'static str, &'static str)> {
    let mut env = good_env();
    env.retain(|(name, _)| !names.contains(name));
    env
}

fn check(args: &[&str], env: &[(&str, &str)]) -> Result<Settings, String> {
    let argv = std::iter::once("hopgate-agent").chain(args.iter().copied());
    load(argv, &env)
        .map(|s| s.settings)
        .map_err(|e| e.to_string())
}

#[test]
fn the_local_ip_from_each_source_reaches_the_client_config() {
    assert_eq!(check(&[], &good_env()).unwrap().transport.local_ip, None);
    let mut env = good_env();
    env.push(("HOP_CLIENT_LOCAL_IP", "127.0.0.2"));
    let from_env = check(&[], &env).unwrap();
    assert_eq!(from_env.transport.local_ip, Some([127, 0, 0, 2].into()));
    let from_flag = check(&["--local-ip", "::1"], &env).unwrap();
    let client = from_flag.client_config().unwrap();
    assert_eq!(client.local_ip, Some(std::net::Ipv6Addr::LOCALHOST.into()));
}

#[test]
fn a_good_config() {
    let settings = check(&[], &good_env()).unwrap();
    assert_eq!(settings.server_name, "127.0.0.1");
    assert_eq!(settings.response_timeout, DEFAULT_RESPONSE_TIMEOUT);
    assert_eq!(settings.tunnels[0].target.authority(), "127.0.0.1:3000");
    assert!(matches!(settings.verification, Verification::Pinned(_)));
    assert!(!format!("{settings:?}").contains("k-123"), "{settings:?}");
}

/// Flags, variables, how the error must name the setting, and what it must say.
type Case = (
    &'static [&'static str],
    Vec<(&'static str, &'static str)>,
    &'static str,
    &'static str,
);

#[test]
fn each_bad_field_is_named_with_its_source() {
    let all_tunnel = [
        "HOP_CLIENT_DOMAIN",
        "HOP_CLIENT_API_KEY",
        "HOP_CLIENT_LOCAL_TARGET",
    ];
    let cases: Vec<Case> = vec![
        (
            &[],
            without(&["HOP_CLIENT_SERVER_ADDR"]),
            "HOP_CLIENT_SERVER_ADDR",
            "missing",
        ),
        (
            &["--server", "gw:http"],
            good_env(),
            "--server",
            "not a number",
        ),
        (
            &["--server-name", "a b"],
            good_env(),
            "--server-name",
            "not a host name",
        ),
        (
            &["--fingerprint", "abc"],
            good_env(),
            "--fingerprint",
            "64 hex digits",
        ),
        (
            &["--ca-file", "/nonexistent.pem"],
            good_env(),
            "--ca-file",
            "not both",
        ),
        (
            &["--response-timeout", "0"],
            good_env(),
            "--response-timeout",
            "outside",
        ),
        (&[], without(&all_tunnel), "tunnel", "no tunnel"),
        (
            &[],
            without(&["HOP_CLIENT_DOMAIN"]),
            "HOP_CLIENT_DOMAIN",
            "missing",
        ),
        (
            &["--domain", "https://app.example.com"],
            good_env(),
            "--domain",
            "without a scheme",
        ),
        (
            &["--domain", "app_example.com"],
            good_env(),
            "--domain",
            "not a domain",
        ),
        (
            &[],
            without(&["HOP_CLIENT_API_KEY"]),
            "HOP_CLIENT_API_KEY",
            "missing for app.example.com",
        ),
        (&["--key", "a b"], good_env(), "--key", "whitespace"),
        (&["http", "localhost"], good_env(), "TARGET", "no port"),
        (
            &["--host-header", "http://localhost"],
            good_env(),
            "--host-header",
            "not preserve, rewrite or a host name",
        ),
        (
            &["--local-protocol", "http2"],
            good_env(),
            "--local-protocol",
            "not http1, h2c or auto",
        ),
        (
            &["--local-ip", "eth0"],
            good_env(),
            "--local-ip",
            "not an IP address",
        ),
        (
            &["--local-ip", "0.0.0.0"],
            good_env(),
            "--local-ip",
            "not an address of this host",
        ),
    ];
    for (args, env, named, why) in cases {
        let err = check(args, &env).unwrap_err();
        assert!(err.starts_with(&format!("{named}: ")), "{named}: {err}");
        assert!(err.contains(why), "{named}: {err}");
    }
}

#[test]
fn the_host_header_from_each_source() {
    let host_header = |args: &[&str], env: &[(&'static str, &'static str)]| {
        let mut all = good_env();
        all.extend_from_slice(env);
        check(args, &all).unwrap().tunnels[0]
            .host_header
            .to_string()
    };
    assert_eq!(host_header(&[], &[]), "preserve");
    assert_eq!(host_header(&["--host-header", "rewrite"], &[]), "rewrite");
    let env = [("HOP_CLIENT_HOST_HEADER", "localhost:5173")];
    assert_eq!(host_header(&[], &env), "localhost:5173");
    assert_eq!(
        host_header(&["--host-header", "preserve"], &env),
        "preserve"
    );

    let dir = TempDir::new("agent-host-header");
    let path = dir.0.join("agent.toml");
    std::fs::write(
        &path,
        "[[tunnel]]\ndomain = \"app.example.com\"\nhost_header = \"Rewrite\"\n",
    )
    .unwrap();
    let file = path.to_str().unwrap();
    assert_eq!(host_header(&["--config", file], &[]), "rewrite");
    std::fs::write(
        &path,
        "[[tunnel]]\ndomain = \"app.example.com\"\nhost_header = \"a b\"\n",
    )
    .unwrap();
    let err = check(&["--config", file], &good_env()).unwrap_err();
    assert!(
        err.starts_with(file)
            && err.contains("tunnel[1].host_header")
            && err.contains("not preserve, rewrite or a host name"),
        "{err}"
    );
}

#[test]
fn the_local_protocol_from_each_source() {
    let protocol = |args: &[&str], env: &[(&'static str, &'static str)]| {
        let mut all = good_env();
        all.extend_from_slice(env);
        check(args, &all).unwrap().tunnels[0].local_protocol
    };
    assert_eq!(protocol(&[], &[]), LocalProtocol::Auto);
    assert_eq!(
        protocol(&["--local-protocol", "h2c"], &[]),
        LocalProtocol::H2c
    );
    let env = [("HOP_CLIENT_LOCAL_PROTOCOL", "http1")];
    assert_eq!(protocol(&[], &env), LocalProtocol::Http1);
    assert_eq!(
        protocol(&["--local-protocol", "auto"], &env),
        LocalProtocol::Auto
    );

    let dir = TempDir::new("agent-local-protocol");
    let path = dir.0.join("agent.toml");
    std::fs::write(
        &path,
        "[[tunnel]]\ndomain = \"app.example.com\"\nlocal_protocol = \"H2C\"\n",
    )
    .unwrap();
    let file = path.to_str().unwrap();
    assert_eq!(protocol(&["--config", file], &[]), LocalProtocol::H2c);
    std::fs::write(
        &path,
        "[[tunnel]]\ndomain = \"app.example.com\"\nlocal_protocol = \"grpc\"\n",
    )
    .unwrap();
    let err = check(&["--config", file], &good_env()).unwrap_err();
    assert!(
        err.starts_with(file)
            && err.contains("tunnel[1].local_protocol")
            && err.contains("not http1, h2c or auto"),
        "{err}"
    );
}

#[test]
fn debug_requires_a_fingerprint() {
    let err = check(&[], &without(&["HOP_CLIENT_SERVER_FINGERPRINT"])).unwrap_err();
    assert!(
        err.starts_with(
            "HOP_CLIENT_SERVER_FINGERPRINT: required in debug mode (debug is on, from \
             HOP_CLIENT_DEBUG)"
        ),
        "{err}"
    );
    // Without debug and without a pin, the system's roots (never nothing).
    let err = check(
        &["--fingerprint", FINGERPRINT],
        &without(&["HOP_CLIENT_SERVER_FINGERPRINT", "HOP_CLIENT_DEBUG"]),
    )
    .unwrap_err();
    assert!(
        err.starts_with("--fingerprint: pinning is for debug mode only"),
        "{err}"
    );
    let env = without(&["HOP_CLIENT_SERVER_FINGERPRINT", "HOP_CLIENT_DEBUG"]);
    assert_eq!(
        check(&[], &env).unwrap().verification,
        Verification::SystemRoots
    );
}

#[test]
fn a_ca_file_is_read_and_checked() {
    let dir = TempDir::new("agent-ca");
    let path = dir.0.join("ca.pem");
    std::fs::write(&path, "not a certificate").unwrap();
    let env = without(&["HOP_CLIENT_SERVER_FINGERPRINT", "HOP_CLIENT_DEBUG"]);
    let args = ["--ca-file", path.to_str().unwrap()];
    let err = check(&args, &env).unwrap_err();
    assert!(
        err.starts_with("--ca-file: ") && err.contains("ca.pem"),
        "{err}"
    );
    let identity = hopgate_transport::Identity::self_signed(&["gw.test".into()]).unwrap();
    std::fs::write(&path, identity.chain_pem()).unwrap();
    let settings = check(&args, &env).unwrap();
    assert!(matches!(&settings.verification, Verification::CaFile { path: p, .. } if *p == path));
    settings.client_config().unwrap();
}

#[test]
fn tunnels_in_a_list_are_named_by_position() {
    let dir = TempDir::new("agent-tunnels");
    let path = dir.0.join("agent.toml");
    let tunnel = |domain: &str, target: &str| {
        format!("[[tunnel]]\ndomain = \"{domain}\"\napi_key = \"k\"\n{target}\n")
    };
    let env = without(&[
        "HOP_CLIENT_DOMAIN",
        "HOP_CLIENT_API_KEY",
        "HOP_CLIENT_LOCAL_TARGET",
    ]);
    let file = path.to_str().unwrap();
    let text = tunnel("app.example.com", "local_target = 1")
        + &tunnel("APP.example.com", "local_target = 2");
    std::fs::write(&path, text).unwrap();
    let err = check(&["--config", file], &env).unwrap_err();
    assert_eq!(
        err,
        format!("{file}: tunnel[2].domain: app.example.com is already served by tunnel[1]")
    );
    let text = tunnel("app.example.com", "local_target = 1") + &tunnel("api.example.com", "");
    std::fs::write(&path, text).unwrap();
    let err = check(&["--config", file], &env).unwrap_err();
    assert!(
        err.starts_with(&format!("{file}: tunnel[2].local_target: missing")),
        "{err}"
    );
}

#[test]
fn domains_are_normalised() {
    assert_eq!(
        check_domain(" App.Example.COM. ").unwrap(),
        "app.example.com"
    );
    assert_eq!(check_domain("localhost").unwrap(), "localhost");
    for bad in ["", "a..b", "-a.b", "a-.b", "a/b", "a:80", &"x".repeat(64)] {
        assert!(check_domain(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn basic_auth_users_from_each_source_and_never_printed() {
    let users = |args: &[&str], env: &[(&'static str, &'static str)]| -> Vec<String> {
        let mut all = good_env();
        all.extend_from_slice(env);
        check(args, &all).unwrap().tunnels[0]
            .basic_auth
            .iter()
            .map(|u| format!("{}={}", u.user, u.password.expose()))
            .collect()
    };
    assert!(users(&[], &[]).is_empty());
    let flags = ["--basic-auth", "alice:pw:1", "--basic-auth", "bob:pw2"];
    assert_eq!(users(&flags, &[]), ["alice=pw:1", "bob=pw2"]);
    let env = [("HOP_CLIENT_BASIC_AUTH", "carol:pw3, dave:pw4")];
    assert_eq!(users(&[], &env), ["carol=pw3", "dave=pw4"]);
    assert_eq!(users(&flags[..2], &env), ["alice=pw:1"], "flags win");

    let dir = TempDir::new("agent-basic-auth");
    let path = dir.0.join("agent.toml");
    std::fs::write(
        &path,
        "[[tunnel]]\ndomain = \"app.example.com\"\nbasic_auth = [\"erin:a,comma\"]\n",
    )
    .unwrap();
    let file = path.to_str().unwrap();
    assert_eq!(users(&["--config", file], &[]), ["erin=a,comma"]);
    let printed = load(
        ["hopgate-agent", "--config", file, "--print-config"],
        &good_env().as_slice(),
    )
    .unwrap()
    .printed
    .unwrap();
    assert!(printed.contains("basic_auth = [\"***\"]"), "{printed}");
    assert!(!printed.contains("a,comma"), "{printed}");

    let mut env = good_env();
    env.push(("HOP_CLIENT_BASIC_AUTH", "alice:ok,nocolon"));
    let err = check(&[], &env).unwrap_err();
    assert!(
        err.starts_with("HOP_CLIENT_BASIC_AUTH: entry 2: is not user:password"),
        "{err}"
    );
    assert!(!err.contains("alice:ok"), "{err}");
}
