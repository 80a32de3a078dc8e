//! Bad settings: the process refuses to start with exit code 2 and a message naming the
//! variable.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ADMIN_KEY, INTERNAL_TOKEN, command};

fn run(pairs: &[(&str, &str)]) -> (Option<i32>, String) {
    let env: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let output = command(&env).output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn missing_admin_key_exits_2_naming_it() {
    let (code, stderr) = run(&[("HOP_INTERNAL_TOKEN", INTERNAL_TOKEN)]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("HOP_ADMIN_API_KEY"), "{stderr}");
    assert!(stderr.contains("required"), "{stderr}");
}

#[test]
fn other_bad_settings_exit_2_naming_them() {
    let cases = [
        ("HOP_ADMIN_API_KEY", "short", "too short"),
        ("HOP_INTERNAL_TOKEN", "", "required"),
        (
            "HOP_ADMIN_LISTEN",
            "not-an-address",
            "is not a socket address",
        ),
        ("HOP_DB_DSN", "mysql://db/x", "postgres://"),
        ("HOP_ADMIN_ALLOW_IPS", "10.0.0.0/99", "CIDR"),
        ("HOP_DB_CONN_MAX_LIFETIME", "forever", "duration"),
    ];
    for (var, value, why) in cases {
        let mut env = vec![
            ("HOP_ADMIN_API_KEY", ADMIN_KEY),
            ("HOP_INTERNAL_TOKEN", INTERNAL_TOKEN),
        ];
        env.retain(|(k, _)| *k != var);
        env.push((var, value));
        let (code, stderr) = run(&env);
        assert_eq!(code, Some(2), "{var}={value}: {stderr}");
        assert!(
            stderr.contains(var) && stderr.contains(why),
            "{var}={value}: {stderr}"
        );
        assert!(!stderr.contains(ADMIN_KEY), "a secret was printed");
    }
}
