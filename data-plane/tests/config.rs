//! The settings as the real binary reads them: a wrong value or an unknown key stops it
//! with exit code 2 and a line naming where the value came from; `--print-config` prints
//! the effective settings with the internal token masked; the layers' precedence.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use hopgate_test_support::{LineLog, exit_within, unused_port, wait_until};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/config");
const TOKEN: &str = "secret-internal-token-0123456789";
const RELAY_TOKEN: &str = "secret-relay-token-0123456789abcdef";

const BINARY: &str = env!("CARGO_BIN_EXE_hopgate-data-plane");

/// Runs `hopgate-data-plane ARGS` with only `env` among the `HOP_…` variables.
fn run(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    hopgate_test_support::run(BINARY, args, env)
}

const DEBUG: [(&str, &str); 2] = [
    ("HOP_SERVER_DOMAIN", "gw.hopgate.test"),
    ("HOP_SERVER_DEBUG", "true"),
];

#[test]
fn a_bad_address_in_the_environment_exits_2_naming_the_variable() {
    let mut env = DEBUG.to_vec();
    env.push(("HOP_SERVER_HTTPS_LISTEN", "abc"));
    let (code, stdout, stderr) = run(&[], &env);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("HOP_SERVER_HTTPS_LISTEN: 'abc' is not a socket address"),
        "{stderr}"
    );
    assert!(stdout.is_empty(), "nothing started: {stdout}");
}

#[test]
fn an_unknown_key_in_the_config_file_exits_2_naming_it() {
    let file = format!("{FIXTURES}/unknown_key.toml");
    let (code, _, stderr) = run(&["--config", &file], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("unknown_key.toml") && stderr.contains("`https_port`"),
        "{stderr}"
    );
}

#[test]
fn production_mode_without_a_control_plane_exits_2() {
    let (code, _, stderr) = run(&[], &[("HOP_SERVER_DOMAIN", "gw.hopgate.test")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("HOP_CONTROL_PLANE_URL: required"),
        "{stderr}"
    );
}

#[test]
fn print_config_shows_the_values_and_masks_the_token() {
    let env = [
        ("HOP_SERVER_DOMAIN", "gw.hopgate.test"),
        ("HOP_CONTROL_PLANE_URL", "http://127.0.0.1:8082"),
        ("HOP_INTERNAL_TOKEN", TOKEN),
        ("HOP_RELAY_TOKEN", RELAY_TOKEN),
        ("HOP_LOG_LEVEL", "warn"),
    ];
    let (code, stdout, stderr) = run(&["--print-config", "--pod-id", "pod-7"], &env);
    assert_eq!(code, Some(0), "{stderr}");
    for line in [
        "domain = \"gw.hopgate.test\"",
        "control_plane_url = \"http://127.0.0.1:8082\"",
        "internal_token = \"***\"",
        "pod_id = \"pod-7\"",
        "https_listen = \"0.0.0.0:443\"",
        "drain_timeout = \"30s\"",
        "log_level = \"warn\"",
    ] {
        assert!(stdout.lines().any(|l| l == line), "{line} in:\n{stdout}");
    }
    assert!(
        stdout.lines().any(|l| l == "relay_token = \"***\""),
        "{stdout}"
    );
    for secret in [TOKEN, RELAY_TOKEN] {
        assert!(!stdout.contains(secret) && !stderr.contains(secret));
    }
}

#[test]
fn defaults_then_file_then_environment_then_flags() {
    let https = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec!["--print-config"];
        all.extend_from_slice(args);
        let (code, stdout, stderr) = run(&all, env);
        assert_eq!(code, Some(0), "{stderr}");
        let line = stdout.lines().find(|l| l.starts_with("https_listen = "));
        line.unwrap()
            .trim_start_matches("https_listen = ")
            .to_owned()
    };
    let file = format!("{FIXTURES}/valid.toml");
    assert_eq!(https(&[], &DEBUG), "\"0.0.0.0:443\"");
    assert_eq!(https(&["--config", &file], &[]), "\"127.0.0.1:8443\"");
    let mut env = DEBUG.to_vec();
    env.push(("HOP_SERVER_HTTPS_LISTEN", "127.0.0.1:9443"));
    assert_eq!(https(&["--config", &file], &env), "\"127.0.0.1:9443\"");
    let flag = ["--config", &file, "--https-listen", "127.0.0.1:10443"];
    assert_eq!(https(&flag, &env), "\"127.0.0.1:10443\"");
}

/// What the pod logs at `level` from its start until it drains on SIGTERM: every line up
/// to `listening` included (its signal handler is installed only after that line, so a
/// pod that drained, exiting 0, has written it if its level lets it through).
fn log_until_drained(level: &str) -> String {
    loop {
        let ops = format!("127.0.0.1:{}", unused_port());
        let mut command = hopgate_test_support::hop_command(BINARY);
        for listener in ["HTTP", "HTTPS", "DTLS"] {
            command.env(format!("HOP_SERVER_{listener}_LISTEN"), "127.0.0.1:0");
        }
        let mut child = command
            .envs(DEBUG)
            .env("HOP_METRICS_LISTEN", &ops)
            .env("HOP_LOG_LEVEL", level)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let log = LineLog::of_child(&mut child, "data-plane");
        wait_until("the pod serves", Duration::from_secs(30), || {
            std::net::TcpStream::connect(&ops).is_ok()
        });
        let term = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(term.success());
        let status = exit_within(&mut child, Duration::from_secs(30));
        let status = status.expect("the pod drains and exits");
        if status.code() == Some(0) {
            wait_until("the whole output read", Duration::from_secs(10), || {
                log.ended()
            });
            return log.text();
        }
        // Killed by a SIGTERM that came before its handler: start again.
    }
}

#[test]
fn hop_log_level_filters_the_log_lines() {
    let info = log_until_drained("info");
    assert!(info.contains("\"msg\":\"listening\""), "{info}");
    let warn = log_until_drained("warn");
    assert!(!warn.contains("\"level\":\"INFO\""), "{warn}");
}
