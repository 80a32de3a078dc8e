//! Loading: the command line, the environment and the file, layered; what each names when
//! it is wrong; `--print-config`.

use std::{path::PathBuf, time::Duration};

use hopgate_settings::{Loaded, Origin, SettingsError};
use hopgate_test_support::TempDir;

use super::*;

fn argv<'a>(args: &[&'a str]) -> Vec<&'a str> {
    std::iter::once("hopgate-agent")
        .chain(args.iter().copied())
        .collect()
}

/// The layered settings, not yet checked.
fn layered(args: &[&str], env: &[(&str, &str)]) -> Result<Loaded<Config>, SettingsError> {
    SPEC.load(argv(args), &env)
}

/// Layered and checked.
fn startup(args: &[&str], env: &[(&str, &str)]) -> Result<Startup, SettingsError> {
    load(argv(args), &env)
}

fn write_file(text: &str) -> (TempDir, PathBuf) {
    let dir = TempDir::new("agent-config");
    let path = dir.0.join("agent.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn file_origin(path: &std::path::Path, key: &str) -> Origin {
    Origin::File {
        path: path.display().to_string(),
        key: key.to_owned(),
    }
}

#[test]
fn the_documented_command_line() {
    let loaded = layered(
        &[
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
        ],
        &[],
    )
    .unwrap();
    let config = &loaded.value;
    let tunnel = &config.tunnel[0];
    assert_eq!(tunnel.local_target.as_deref(), Some("3000"));
    assert_eq!(tunnel.domain.as_deref(), Some("app.example.com"));
    assert_eq!(tunnel.api_key.as_ref().unwrap().expose(), "SECRET");
    assert_eq!(
        loaded.provenance.origin("server_addr"),
        Origin::Flag("--server".into())
    );
    assert!(config.debug);
    assert_eq!(config.server_name.as_deref(), Some("gw"));
    assert_eq!(
        loaded.provenance.origin("verbose"),
        Origin::Default,
        "an absent switch leaves the setting to env or file"
    );
    assert!(!format!("{loaded:?}").contains("SECRET"), "{loaded:?}");
}

#[test]
fn flags_may_come_before_the_subcommand_and_it_is_optional() {
    let loaded = layered(&["--server", "gw:1", "http", "localhost:8080", "-v"], &[]).unwrap();
    assert_eq!(loaded.value.server_addr.as_deref(), Some("gw:1"));
    assert_eq!(
        loaded.value.tunnel[0].local_target.as_deref(),
        Some("localhost:8080")
    );
    assert!(loaded.value.verbose);
    let (_dir, path) = write_file("server_addr = \"from-file:1\"\n");
    let loaded = layered(&["--config", path.to_str().unwrap()], &[]).unwrap();
    assert!(loaded.value.tunnel.is_empty());
    assert_eq!(loaded.value.server_addr.as_deref(), Some("from-file:1"));
}

#[test]
fn a_usage_error_is_refused() {
    assert!(matches!(
        layered(&["http"], &[]),
        Err(SettingsError::Cli(_))
    ));
    assert!(matches!(
        layered(&["--no-such-flag"], &[]),
        Err(SettingsError::Cli(_))
    ));
    assert!(matches!(
        layered(&["--debug=true"], &[]),
        Err(SettingsError::Cli(_))
    ));
    let err = layered(&["http", "3000", "--response-timeout", "x"], &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "--response-timeout: 'x' is not a whole number"
    );
}

#[test]
fn flags_beat_environment_beat_file() {
    let (_dir, path) = write_file(
        r#"
        server_addr = "file.example:1"
        server_name = "file-name"
        response_timeout_secs = 7
        verbose = true

        [[tunnel]]
        domain = "app.example.com"
        api_key = "file-key"
        local_target = 1111
        "#,
    );
    let env = [
        ("HOP_CLIENT_SERVER_ADDR", "env.example:2"),
        ("HOP_CLIENT_SERVER_NAME", "env-name"),
        ("HOP_CLIENT_API_KEY", "env-key"),
        ("HOP_CLIENT_LOCAL_TARGET", "2222"),
    ];
    let file = path.to_str().unwrap();
    let args = [
        "--config",
        file,
        "http",
        "3333",
        "--server",
        "cli.example:3",
    ];
    let loaded = layered(&args, &env).unwrap();
    let origin = |key: &str| loaded.provenance.origin(key);
    assert_eq!(loaded.value.server_addr.as_deref(), Some("cli.example:3"));
    assert_eq!(origin("server_addr"), Origin::Flag("--server".into()));
    assert_eq!(
        origin("server_name"),
        Origin::Env("HOP_CLIENT_SERVER_NAME".into())
    );
    assert_eq!(loaded.value.response_timeout_secs, 7);
    assert_eq!(
        origin("response_timeout_secs"),
        file_origin(&path, "response_timeout_secs")
    );
    assert_eq!(loaded.value.tunnel.len(), 1);
    let tunnel = &loaded.value.tunnel[0];
    assert_eq!(tunnel.local_target.as_deref(), Some("3333"));
    assert_eq!(
        origin("tunnel[0].local_target"),
        Origin::Flag("TARGET".into())
    );
    assert_eq!(tunnel.api_key.as_ref().unwrap().expose(), "env-key");
    assert_eq!(
        origin("tunnel[0].api_key"),
        Origin::Env("HOP_CLIENT_API_KEY".into())
    );
    assert_eq!(
        origin("tunnel[0].domain"),
        file_origin(&path, "tunnel[1].domain")
    );

    let settings = startup(&args, &env).unwrap().settings;
    assert_eq!(settings.server.to_string(), "cli.example:3");
    assert_eq!(settings.server_name, "env-name");
    assert_eq!(settings.response_timeout, Duration::from_secs(7));
    assert!(settings.verbose);
    assert_eq!(
        settings.tunnels[0].target.to_string(),
        "http://127.0.0.1:3333"
    );
    assert_eq!(settings.tunnels[0].api_key.expose(), "env-key");
}

#[test]
fn environment_alone_is_enough() {
    let fingerprint = "ab".repeat(32);
    let env = [
        ("HOP_CLIENT_SERVER_ADDR", "gw.example.com:4433"),
        ("HOP_CLIENT_DOMAIN", "App.Example.com"),
        ("HOP_CLIENT_API_KEY", "k"),
        ("HOP_CLIENT_LOCAL_TARGET", "localhost:8080"),
        ("HOP_CLIENT_DEBUG", "TRUE"),
        ("HOP_CLIENT_SERVER_FINGERPRINT", &fingerprint),
        ("HOP_CLIENT_VERBOSE", ""),
    ];
    let settings = startup(&[], &env).unwrap().settings;
    assert_eq!(settings.server_name, "gw.example.com");
    assert!(matches!(settings.verification, Verification::Pinned(_)));
    assert_eq!(settings.tunnels[0].domain, "app.example.com");
    assert_eq!(
        settings.tunnels[0].target.to_string(),
        "http://localhost:8080"
    );
    assert!(!settings.verbose, "an empty variable counts as unset");
}

#[test]
fn bad_environment_values_name_the_variable() {
    let err = layered(&[], &[("HOP_CLIENT_DEBUG", "maybe")]).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("HOP_CLIENT_DEBUG: 'maybe' is not a boolean"),
        "{text}"
    );
}

#[test]
fn several_file_tunnels_and_one_from_flags() {
    let (_dir, path) = write_file(
        "[[tunnel]]\ndomain = \"a.example\"\n\n[[tunnel]]\ndomain = \"b.example\"\nlocal_target = 1\n",
    );
    let file = path.to_str().unwrap();
    // A tunnel for a domain the file has: its fields override that entry.
    let args = ["--config", file, "--domain", "B.example", "http", "2"];
    let loaded = layered(&args, &[]).unwrap();
    assert_eq!(loaded.value.tunnel.len(), 2);
    assert_eq!(loaded.value.tunnel[1].local_target.as_deref(), Some("2"));
    assert_eq!(
        loaded.provenance.origin("tunnel[1].local_target"),
        Origin::Flag("TARGET".into())
    );
    // A new domain: served in addition.
    let loaded = layered(&["--config", file, "--domain", "c.example"], &[]).unwrap();
    assert_eq!(loaded.value.tunnel.len(), 3);
    // A key without a domain: ambiguous, refused.
    let err = layered(&["--config", file, "--key", "k"], &[]).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("--key: the config file has 2 [[tunnel]] entries; give --domain"),
        "{text}"
    );
}

#[test]
fn file_errors_name_the_field() {
    let (_dir, path) = write_file("server_adr = \"x:1\"\n");
    let file = path.to_str().unwrap();
    let err = layered(&["--config", file], &[]).unwrap_err().to_string();
    assert!(
        err.starts_with(file) && err.contains("`server_adr`"),
        "{err}"
    );

    let (_dir, path) = write_file("[[tunnel]]\ndomain = \"a.example\"\nlocal_port = 3\n");
    let file = path.to_str().unwrap();
    let err = layered(&["--config", file], &[]).unwrap_err().to_string();
    assert!(
        err.contains("line 3: unknown key `tunnel[1].local_port`"),
        "{err}"
    );

    let missing = layered(&["--config", "/nonexistent/agent.toml"], &[]).unwrap_err();
    let text = missing.to_string();
    assert!(
        text.starts_with("/nonexistent/agent.toml: cannot read"),
        "{text}"
    );
}

#[test]
fn config_file_path_from_the_environment() {
    let (_dir, path) = write_file("server_addr = \"from-file:9\"\n");
    let env = [("HOP_CLIENT_CONFIG", path.to_str().unwrap())];
    let loaded = layered(&[], &env).unwrap();
    assert_eq!(loaded.value.server_addr.as_deref(), Some("from-file:9"));
    let ignored = layered(&[], &[("HOP_CONFIG", path.to_str().unwrap())]).unwrap();
    assert_eq!(
        ignored.value.server_addr, None,
        "the agent's own variable names its file"
    );
}

#[test]
fn a_file_with_two_tunnels() {
    let (dir, path) = write_file(
        r#"
        server_addr = "gw.example.com:443"
        ca_file = "certs/ca.pem"
        debug = false

        [[tunnel]]
        domain = "app.example.com"
        api_key = "key-one"
        local_target = 3000

        [[tunnel]]
        domain = "api.example.com"
        api_key = "key-two"
        local_target = "http://127.0.0.1:8080"
        "#,
    );
    let mut loaded = layered(&["--config", path.to_str().unwrap()], &[]).unwrap();
    resolve_ca_file(&mut loaded);
    let config = &loaded.value;
    assert_eq!(config.server_addr.as_deref(), Some("gw.example.com:443"));
    assert_eq!(config.ca_file, Some(dir.0.join("certs/ca.pem")));
    assert_eq!(config.tunnel.len(), 2);
    assert_eq!(config.tunnel[0].local_target.as_deref(), Some("3000"));
    assert_eq!(
        config.tunnel[1].api_key.as_ref().unwrap().expose(),
        "key-two"
    );
    assert!(!format!("{:?}", config.tunnel).contains("key-two"));
}

#[test]
fn unknown_and_mistyped_fields_are_refused_by_name() {
    for (text, names) in [
        ("serveraddr = \"x\"", "serveraddr"),
        // The config crate reads "true", "yes", "on", "1" as env values are read; not this.
        ("debug = \"maybe\"", "debug"),
        ("[[tunnel]]\ndomain = \"a\"\nkey = \"k\"", "key"),
        ("[tunnels]\n", "tunnels"),
    ] {
        let (_dir, path) = write_file(text);
        let file = path.to_str().unwrap();
        let err = layered(&["--config", file], &[]).unwrap_err().to_string();
        assert!(
            err.starts_with(file) && err.contains(names),
            "{text:?}: {err}"
        );
    }
}

#[test]
fn a_response_timeout_is_a_whole_number_of_seconds() {
    for (text, found) in [
        ("response_timeout_secs = \"yes\"\n", "'yes'"),
        ("response_timeout_secs = true\n", "true"),
    ] {
        let (_dir, path) = write_file(text);
        let file = path.to_str().unwrap();
        let err = layered(&["--config", file], &[]).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("{file}: response_timeout_secs: {found} is not a whole number"),
        );
    }
    let env = [("HOP_CLIENT_RESPONSE_TIMEOUT_SECS", "soon")];
    let err = layered(&[], &env).unwrap_err().to_string();
    assert_eq!(
        err,
        "HOP_CLIENT_RESPONSE_TIMEOUT_SECS: 'soon' is not a whole number"
    );
}

#[test]
fn a_parse_error_never_echoes_the_key() {
    let (_dir, path) = write_file("[[tunnel]]\napi_key = \"SECRET-123\" oops\n");
    let err = layered(&["--config", path.to_str().unwrap()], &[]).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("line 2"), "{text}");
    assert!(!text.contains("SECRET-123"), "{text}");
}

#[test]
fn prints_the_values_and_masks_the_keys() {
    let args = [
        "--print-config",
        "--server",
        "gw.example.com:443",
        "--domain",
        "app.example.com",
        "--key",
        "TOPSECRET-1",
        "http",
        "3000",
    ];
    let text = startup(&args, &[]).unwrap().printed.unwrap();
    assert!(!text.contains("TOPSECRET"), "{text}");
    for line in [
        "server_addr = \"gw.example.com:443\"",
        "api_key = \"***\"",
        "local_target = \"3000\"",
        "response_timeout_secs = 60",
        "[[tunnel]]",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
    }
    let (_dir, path) = write_file(&text);
    let reread = layered(&["--config", path.to_str().unwrap()], &[]).unwrap();
    assert_eq!(reread.value.tunnel.len(), 1);
    assert_eq!(startup(&args[1..], &[]).unwrap().printed, None);
}

#[test]
fn the_key_never_prints() {
    let args = [
        "--server",
        "gw:1",
        "--domain",
        "a.example",
        "--key",
        "hg_live_TOPSECRET",
        "http",
        "1",
    ];
    let key = startup(&args, &[]).unwrap().settings.tunnels[0]
        .api_key
        .clone();
    assert_eq!(format!("{key}"), "***");
    assert_eq!(format!("{key:?}"), "***");
    assert_eq!(format!("{key:#?}"), "***");
    assert_eq!(format!("{:?}", Some(&key)), "Some(***)");
    assert_eq!(key.expose(), "hg_live_TOPSECRET");
}
