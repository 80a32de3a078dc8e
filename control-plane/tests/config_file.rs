//! The settings as the real binary reads them: `--config` files (an unknown key stops it
//! with exit code 2 naming the key), `--print-config` with every secret masked, a missing
//! admin key, and the precedence defaults < file < environment < flags.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ADMIN_KEY, INTERNAL_TOKEN};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/config");

/// Runs `hopgate-control-plane ARGS` with only `env` among the `HOP_…` variables.
fn run(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    hopgate_test_support::run(env!("CARGO_BIN_EXE_hopgate-control-plane"), args, env)
}

const SECRETS: [(&str, &str); 2] = [
    ("HOP_ADMIN_API_KEY", ADMIN_KEY),
    ("HOP_INTERNAL_TOKEN", INTERNAL_TOKEN),
];

#[test]
fn a_bad_address_in_the_environment_exits_2_naming_the_variable() {
    let mut env = SECRETS.to_vec();
    env.push(("HOP_INTERNAL_LISTEN", "abc"));
    let (code, _, stderr) = run(&[], &env);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("HOP_INTERNAL_LISTEN: 'abc' is not a socket address"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_key_in_the_config_file_exits_2_naming_it() {
    let file = format!("{FIXTURES}/unknown_key.toml");
    let (code, _, stderr) = run(&["--config", &file], &SECRETS);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("unknown_key.toml") && stderr.contains("`db.max_open`"),
        "{stderr}"
    );
}

#[test]
fn a_file_without_the_admin_key_exits_2_naming_hop_admin_api_key() {
    let file = format!("{FIXTURES}/valid.toml");
    let (code, _, stderr) = run(
        &["--config", &file],
        &[("HOP_INTERNAL_TOKEN", INTERNAL_TOKEN)],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("HOP_ADMIN_API_KEY: required"), "{stderr}");
}

#[test]
fn a_bad_value_in_the_file_names_the_file_and_key() {
    let file = format!("{FIXTURES}/bad_dsn.toml");
    let (code, _, stderr) = run(&["--config", &file], &SECRETS);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("bad_dsn.toml: db.dsn: must start with postgres://"),
        "{stderr}"
    );
}

#[test]
fn print_config_shows_the_values_and_masks_every_secret() {
    let password = "pa55word-in-the-dsn";
    let dsn = format!("postgres://hopgate:{password}@127.0.0.1:5432/test");
    let mut env = SECRETS.to_vec();
    env.extend([("HOP_DB_DSN", dsn.as_str()), ("HOP_LOG_LEVEL", "debug")]);
    let (code, stdout, stderr) = run(&["--print-config", "--db-max-open-conns", "7"], &env);
    assert_eq!(code, Some(0), "{stderr}");
    for line in [
        "admin_api_key = \"***\"",
        "internal_token = \"***\"",
        "dsn = \"***\"",
        "max_open_conns = 7",
        "admin_listen = \"127.0.0.1:8081\"",
        "log_level = \"debug\"",
        "[db]",
    ] {
        assert!(stdout.lines().any(|l| l == line), "{line} in:\n{stdout}");
    }
    for secret in [ADMIN_KEY, INTERNAL_TOKEN, password] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{stdout}"
        );
    }
}

#[test]
fn defaults_then_file_then_environment_then_flags() {
    let admin = |args: &[&str], extra: &[(&str, &str)]| {
        let mut all = vec!["--print-config"];
        all.extend_from_slice(args);
        let mut env = SECRETS.to_vec();
        env.extend_from_slice(extra);
        let (code, stdout, stderr) = run(&all, &env);
        assert_eq!(code, Some(0), "{stderr}");
        let line = stdout.lines().find(|l| l.starts_with("admin_listen = "));
        line.unwrap()
            .trim_start_matches("admin_listen = ")
            .to_owned()
    };
    let file = format!("{FIXTURES}/valid.toml");
    assert_eq!(admin(&[], &[]), "\"127.0.0.1:8081\"");
    assert_eq!(admin(&["--config", &file], &[]), "\"127.0.0.1:18081\"");
    let env = [("HOP_ADMIN_LISTEN", "127.0.0.1:28081")];
    assert_eq!(admin(&["--config", &file], &env), "\"127.0.0.1:28081\"");
    let flag = ["--config", &file, "--admin-listen", "127.0.0.1:38081"];
    assert_eq!(admin(&flag, &env), "\"127.0.0.1:38081\"");
}
