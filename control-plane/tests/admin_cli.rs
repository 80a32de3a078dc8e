//! The admin CLI (`hopgate-control-plane admin domains …`) as an operator runs it: the real
//! binary against a real control-plane on SQLite. Each action in text and as JSON, checked
//! against the admin API; the key from `HOP_ADMIN_KEY` or a `0600` file; and failures with
//! their exit codes and `SOURCE: reason` lines: a wrong key, an unknown domain, an invalid
//! name, a key file others can read, the API down.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{fs, os::unix::fs::PermissionsExt};

use common::{ADMIN_KEY, ControlPlane, Database, TempDir};
use reqwest::StatusCode;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_hopgate-control-plane");

/// One finished run of the CLI.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Asserts success and returns stdout.
    fn ok(self) -> String {
        assert_eq!(self.code, Some(0), "stderr: {}", self.stderr);
        self.stdout
    }

    /// Asserts failure with `code` and returns the one stderr line.
    fn failed(self, code: i32) -> String {
        assert_eq!(
            self.code,
            Some(code),
            "stdout: {} stderr: {}",
            self.stdout,
            self.stderr
        );
        assert!(self.stdout.is_empty(), "stdout: {}", self.stdout);
        self.stderr.trim_end().to_owned()
    }
}

/// The CLI pointed at one admin API, with `HOP_…` variables of its own only.
struct Cli {
    env: Vec<(&'static str, String)>,
}

impl Cli {
    fn new(url: String, key: &str) -> Self {
        Self {
            env: vec![("HOP_ADMIN_URL", url), ("HOP_ADMIN_KEY", key.to_owned())],
        }
    }

    fn for_control_plane(cp: &ControlPlane) -> Self {
        Self::new(format!("http://{}", cp.admin), ADMIN_KEY)
    }

    /// `admin domains ARGS…`.
    fn run(&self, args: &[&str]) -> Run {
        let mut full = vec!["admin", "domains"];
        full.extend_from_slice(args);
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (code, stdout, stderr) = hopgate_test_support::run(BIN, &full, &env);
        Run {
            code,
            stdout,
            stderr,
        }
    }

    /// `admin domains ARGS… --json`, parsed.
    fn json(&self, args: &[&str]) -> Value {
        let mut full = args.to_vec();
        full.push("--json");
        let stdout = self.run(&full).ok();
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
    }
}

fn is_key(value: &str) -> bool {
    value.len() == 64
        && value
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The key on the `client API key: KEY` line of `add`'s text.
fn key_in_text(text: &str) -> String {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("client API key: "))
        .unwrap_or_else(|| panic!("no key line in {text}"));
    assert!(is_key(line), "{line}");
    line.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_action_in_text_and_json() {
    let db = Database::sqlite();
    let cp = ControlPlane::start(&db, &[]);
    let api = cp.api();
    let cli = Cli::for_control_plane(&cp);

    let text = cli
        .run(&["add", "App.Example.com", "--memo", "the app"])
        .ok();
    assert!(text.starts_with("registered app.example.com\n"), "{text}");
    let first_key = key_in_text(&text);
    assert!(text.contains("certificate: disabled"), "{text}");

    let added = cli.json(&["add", "bücher.example"]);
    assert_eq!(added["domain"], "xn--bcher-kva.example");
    let second_key = added["client_api_key"].as_str().unwrap().to_owned();
    assert!(is_key(&second_key) && second_key != first_key);
    let (status, _) = api.get("/api/v1/admin/domains/xn--bcher-kva.example").await;
    assert_eq!(status, StatusCode::OK);

    let listed = cli.json(&["list"]);
    let names: Vec<&str> = listed["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["domain"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app.example.com", "xn--bcher-kva.example"]);
    let table = cli.run(&["list"]).ok();
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("DOMAIN"), "{table}");
    assert!(
        lines[1].starts_with("app.example.com ") && lines[1].ends_with("the app"),
        "{table}"
    );
    assert_eq!(lines.len(), 3, "{table}");

    let shown = cli.json(&["show", "APP.example.com."]);
    assert_eq!(shown["memo"], "the app");
    assert_eq!(shown["connected"], false);
    let text = cli.run(&["show", "app.example.com"]).ok();
    assert!(text.contains("memo:        the app\n"), "{text}");
    assert!(text.contains("connected:   no\n"), "{text}");

    let rotated = cli.json(&["rotate-key", "app.example.com"]);
    let new_key = rotated["client_api_key"].as_str().unwrap();
    assert!(is_key(new_key) && new_key != first_key, "{rotated}");
    let text = cli.run(&["rotate-key", "app.example.com"]).ok();
    assert!(
        text.starts_with("new client API key for app.example.com: "),
        "{text}"
    );

    let removed = cli.json(&["remove", "app.example.com"]);
    assert_eq!(removed["unregistered"], true);
    let text = cli.run(&["remove", "bücher.example"]).ok();
    assert_eq!(text, "unregistered xn--bcher-kva.example\n");
    let (_, body) = api.get("/api/v1/admin/domains").await;
    assert_eq!(body["domains"], serde_json::json!([]));
    assert_eq!(cli.run(&["list"]).ok(), "no domains registered\n");

    // Keys are printed by the CLI, never logged by the control-plane.
    let logs = cp.log_text();
    for key in [first_key.as_str(), second_key.as_str(), new_key] {
        assert!(!logs.contains(key), "a key was logged");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_name_their_source_and_exit_non_zero() {
    let db = Database::sqlite();
    let cp = ControlPlane::start(&db, &[]);
    let cli = Cli::for_control_plane(&cp);
    let url = format!("http://{}/", cp.admin);

    let err = cli.run(&["show", "nobody.example.com"]).failed(1);
    assert_eq!(
        err,
        format!(
            "hopgate-control-plane admin domains show: {url}: 404 not_found: domain \
             'nobody.example.com' is not registered"
        )
    );
    cli.run(&["add", "app.example.com"]).ok();
    let err = cli.run(&["add", "app.example.com"]).failed(1);
    assert!(err.contains(&format!("{url}: 409 conflict: ")), "{err}");

    let wrong = Cli::new(
        format!("http://{}", cp.admin),
        "not-the-admin-key-0123456789",
    );
    let err = wrong.run(&["list"]).failed(1);
    assert!(
        err.ends_with(&format!(
            "{url}: 401 unauthorized: wrong admin key (the key from HOP_ADMIN_KEY)"
        )),
        "{err}"
    );

    // Refused before any call: exit code 2, as for a bad setting.
    let err = cli.run(&["add", "a_b.example.com"]).failed(2);
    assert_eq!(
        err,
        "hopgate-control-plane admin domains add: DOMAIN: 'a_b.example.com' label 'a_b' has \
         characters other than a-z, 0-9 and '-'"
    );
    let err = cli.run(&["add", "1.2.3.4"]).failed(2);
    assert!(err.contains("IP address"), "{err}");
    let err = cli.run(&["frobnicate"]).failed(2);
    assert!(err.contains("frobnicate"), "{err}");
    let no_key = Cli {
        env: vec![("HOP_ADMIN_URL", format!("http://{}", cp.admin))],
    };
    let err = no_key.run(&["list"]).failed(2);
    assert!(err.contains("HOP_ADMIN_KEY: required"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_from_a_private_file() {
    let db = Database::sqlite();
    let cp = ControlPlane::start(&db, &[]);
    let dir = TempDir::new("admin-cli-key");
    let path = dir.0.join("admin.key");
    fs::write(&path, format!("{ADMIN_KEY}\n")).unwrap();
    let path_text = path.display().to_string();
    let cli = Cli {
        env: vec![("HOP_ADMIN_URL", format!("http://{}", cp.admin))],
    };

    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    let listed = cli.json(&["list", "--admin-key-file", &path_text]);
    assert_eq!(listed["domains"], serde_json::json!([]));

    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
    let err = cli.run(&["list", "--admin-key-file", &path_text]).failed(2);
    assert_eq!(
        err,
        format!(
            "hopgate-control-plane admin domains list: --admin-key-file: {path_text} is open \
             to others (mode 0640): `chmod 600 {path_text}`"
        )
    );

    fs::write(&path, "a-wrong-key-0123456789").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    let err = cli.run(&["list", "--admin-key-file", &path_text]).failed(1);
    assert!(
        err.ends_with(&format!("(the key from {path_text})")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_api_is_a_clear_failure() {
    // A port bound but not listening: connections to it are refused, and no other test can
    // take it meanwhile.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    let cli = Cli::new(format!("http://{addr}"), ADMIN_KEY);
    for args in [
        &["list"][..],
        &["add", "app.example.com"],
        &["remove", "app.example.com"],
    ] {
        let err = cli.run(args).failed(1);
        assert!(
            err.contains(&format!("http://{addr}/: cannot reach the admin API: ")),
            "{err}"
        );
        assert!(err.to_lowercase().contains("connection refused"), "{err}");
    }
}

impl Cli {
    /// `admin domains ARGS…` with `input` on its standard input.
    fn run_with_stdin(&self, args: &[&str], input: &str) -> Run {
        use std::{io::Write, process::Stdio};
        let mut child = hopgate_test_support::hop_command(BIN)
            .args(["admin", "domains"])
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_auth_sets_and_clears_a_policy_without_showing_the_password() {
    let db = Database::sqlite();
    let cp = ControlPlane::start(&db, &[]);
    let api = cp.api();
    let cli = Cli::for_control_plane(&cp);
    cli.run(&["add", "app.example.com"]).ok();
    let access = "/api/v1/admin/domains/app.example.com/access";
    let password = "a-long-generated-password";

    // The password from stdin (its first line), ranges repeated or comma-separated.
    let args = [
        "set-auth",
        "app.example.com",
        "--user",
        "alice",
        "--password-stdin",
        "--allow-cidr",
        "10.1.2.3/8",
        "--allow-cidr",
        "192.0.2.0/24,2001:db8::/32",
        "--deny-cidr",
        "10.9.0.0/16",
    ];
    let text = cli.run_with_stdin(&args, &format!("{password}\n")).ok();
    assert_eq!(
        text,
        "access to app.example.com:\nusers:       alice\nallowed:     10.0.0.0/8, 192.0.2.0/24, \
         2001:db8::/32\ndenied:      10.9.0.0/16\n"
    );
    let (status, policy) = api.get(access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(policy["basic_auth"][0]["user"], "alice");
    assert_eq!(policy["deny_cidrs"][0], "10.9.0.0/16");
    assert!(!db.everything_stored().await.contains(password));

    // From a 0600 file, as JSON: the API's answer.
    let dir = TempDir::new("password");
    let file = dir.0.join("password");
    fs::write(&file, format!("{password}-2\n")).unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
    let file = file.display().to_string();
    let answer = cli.json(&[
        "set-auth",
        "app.example.com",
        "--user",
        "bob",
        "--password-file",
        &file,
    ]);
    assert_eq!(
        answer,
        serde_json::json!({"domain": "app.example.com", "basic_auth": [{"user": "bob"}],
            "allow_cidrs": [], "deny_cidrs": []})
    );

    let text = cli.run(&["set-auth", "app.example.com", "--clear"]).ok();
    assert_eq!(
        text,
        "access to app.example.com: open to everyone (no policy)\n"
    );
    let (_, policy) = api.get(access).await;
    assert_eq!(policy["basic_auth"], serde_json::json!([]));

    assert!(!cp.log_text().contains(password));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_auth_mistakes_are_named_before_any_call_and_refusals_after() {
    let db = Database::sqlite();
    let cp = ControlPlane::start(&db, &[]);
    let cli = Cli::for_control_plane(&cp);
    cli.run(&["add", "app.example.com"]).ok();
    let dir = TempDir::new("password");

    // Exit 2 before any call, naming the option; the API's refusals exit 1.
    for (args, says) in [
        (
            vec!["set-auth", "app.example.com", "--user", "alice"],
            "--user: needs its password: --password-stdin or --password-file",
        ),
        (
            vec!["set-auth", "app.example.com", "--allow-cidr", "10.0.0.0/33"],
            "--allow-cidr: '10.0.0.0/33' has a prefix length that is not a number from 0 to 32",
        ),
        (
            vec![
                "set-auth",
                "app.example.com",
                "--clear",
                "--deny-cidr",
                "10.0.0.0/8",
            ],
            "--clear: clears the whole policy",
        ),
        (vec!["set-auth", "app.example.com"], "nothing to set"),
    ] {
        let line = cli.run(&args).failed(2);
        assert!(line.contains(says), "{args:?}: {line}");
    }
    let open = dir.0.join("open");
    fs::write(&open, "pw-in-an-open-file\n").unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o644)).unwrap();
    let open = open.display().to_string();
    let line = cli
        .run(&[
            "set-auth",
            "app.example.com",
            "--user",
            "a",
            "--password-file",
            &open,
        ])
        .failed(2);
    assert!(
        line.contains("--password-file: ") && line.contains("chmod 600"),
        "{line}"
    );
    let line = cli
        .run_with_stdin(
            &[
                "set-auth",
                "app.example.com",
                "--user",
                "a",
                "--password-stdin",
            ],
            "short\n",
        )
        .failed(1);
    assert!(
        line.contains("400 bad_request: basic_auth[0]: password is shorter"),
        "{line}"
    );
    let line = cli
        .run(&[
            "set-auth",
            "nobody.example.com",
            "--deny-cidr",
            "10.0.0.0/8",
        ])
        .failed(1);
    assert!(
        line.ends_with("404 not_found: domain 'nobody.example.com' is not registered"),
        "{line}"
    );
}
