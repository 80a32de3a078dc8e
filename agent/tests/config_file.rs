//! `--config` files and `--print-config` with the real binary: the effective settings as
//! TOML with every API key masked; precedence file < environment < flags; a bad address in
//! the environment exits 2 naming the variable.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hopgate_test_support::TempDir;

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/config/two_tunnels.toml");

/// Runs `hopgate-agent ARGS` with only `env` among the `HOP_…` variables.
fn run(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    hopgate_test_support::run(env!("CARGO_BIN_EXE_hopgate-agent"), args, env)
}

#[test]
fn print_config_shows_every_tunnel_and_masks_the_keys() {
    let env = [("HOP_LOG_LEVEL", "debug")];
    let (code, stdout, stderr) = run(&["--config", FILE, "--print-config"], &env);
    assert_eq!(code, Some(0), "{stderr}");
    for line in [
        "server_addr = \"gw.example.com:443\"",
        "response_timeout_secs = 30",
        "domain = \"app.example.com\"",
        "local_target = \"http://127.0.0.1:8080\"",
        "api_key = \"***\"",
        "log_level = \"debug\"",
    ] {
        assert!(stdout.lines().any(|l| l == line), "{line} in:\n{stdout}");
    }
    assert_eq!(stdout.matches("[[tunnel]]").count(), 2, "{stdout}");
    assert!(!stdout.contains("fixture-key"), "{stdout}");
}

#[test]
fn defaults_then_file_then_environment_then_flags() {
    let timeout = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec!["--print-config", "--server", "gw:1", "http", "3000"];
        all.extend_from_slice(args);
        let mut env = env.to_vec();
        env.extend([
            ("HOP_CLIENT_DOMAIN", "app.example.com"),
            ("HOP_CLIENT_API_KEY", "k"),
        ]);
        let (code, stdout, stderr) = run(&all, &env);
        assert_eq!(code, Some(0), "{stderr}");
        let line = stdout
            .lines()
            .find(|l| l.starts_with("response_timeout_secs = "));
        line.unwrap()
            .trim_start_matches("response_timeout_secs = ")
            .to_owned()
    };
    let dir = TempDir::new("agent-config");
    let one_tunnel = dir.0.join("one_tunnel.toml");
    std::fs::write(&one_tunnel, "response_timeout_secs = 30\n").unwrap();
    let file = one_tunnel.to_str().unwrap();
    assert_eq!(timeout(&[], &[]), "60");
    assert_eq!(timeout(&["--config", file], &[]), "30");
    let env = [("HOP_CLIENT_RESPONSE_TIMEOUT_SECS", "20")];
    assert_eq!(timeout(&["--config", file], &env), "20");
    assert_eq!(
        timeout(&["--config", file, "--response-timeout", "10"], &env),
        "10"
    );
}

#[test]
fn a_bad_server_address_in_the_environment_exits_2_naming_it() {
    let env = [("HOP_CLIENT_SERVER_ADDR", "gw.example.com:notaport")];
    let (code, _, stderr) = run(&["--config", FILE], &env);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("HOP_CLIENT_SERVER_ADDR"), "{stderr}");
}

#[test]
fn the_deploy_example_parses() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/config/agent.toml");
    let env = [("HOP_CLIENT_API_KEY", "example-key-0123456789")];
    let (code, stdout, stderr) = run(&["--config", file, "--print-config"], &env);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("domain = \"app.example.com\""), "{stdout}");
    assert!(!stdout.contains("example-key"), "{stdout}");
}
