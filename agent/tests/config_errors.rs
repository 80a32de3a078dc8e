//! A bad configuration stops the agent at once with status 2 and a message naming the field.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;

async fn refused(args: &[&str], env: &[(&str, &str)]) -> String {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let mut agent = Agent::spawn(&args, env);
    let status = agent.exit_status(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(2), "{}", agent.output());
    agent.output()
}

const FP: &str = "ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_settings_name_the_field_and_exit_2() {
    let base = ["--domain", DOMAIN, "--key", KEY, "--server", "127.0.0.1:9"];

    let out = refused(
        &[
            &["http", "99999"][..],
            &base,
            &["--fingerprint", FP, "--debug"],
        ]
        .concat(),
        &[],
    )
    .await;
    assert!(
        out.contains("hopgate-agent: TARGET: ") && out.contains("1..=65535"),
        "{out}"
    );

    let out = refused(&[&["http", "3000", "--debug"][..], &base].concat(), &[]).await;
    assert!(
        out.contains("hopgate-agent: HOP_CLIENT_SERVER_FINGERPRINT: required"),
        "{out}"
    );
    assert!(out.contains("debug mode"), "{out}");

    let out = refused(
        &[&["http", "3000"][..], &base].concat(),
        &[
            ("HOP_CLIENT_SERVER_FINGERPRINT", "xyz"),
            ("HOP_CLIENT_DEBUG", "true"),
        ],
    )
    .await;
    assert!(
        out.contains("hopgate-agent: HOP_CLIENT_SERVER_FINGERPRINT: ")
            && out.contains("64 hex digits"),
        "{out}"
    );

    let out = refused(
        &["http", "3000", "--key", KEY, "--fingerprint", FP, "--debug"],
        &[("HOP_CLIENT_SERVER_ADDR", "gw:1")],
    )
    .await;
    assert!(
        out.contains("hopgate-agent: HOP_CLIENT_DOMAIN: missing"),
        "{out}"
    );

    let out = refused(&["--fingerprint", FP, "--debug", "--server", "gw:1"], &[]).await;
    assert!(out.contains("hopgate-agent: tunnel: no tunnel"), "{out}");

    // A pin outside debug mode is refused: production verifies chain and name.
    let out = refused(
        &[&["http", "3000"][..], &base, &["--fingerprint", FP]].concat(),
        &[],
    )
    .await;
    assert!(
        out.contains("hopgate-agent: --fingerprint: pinning is for debug mode only"),
        "{out}"
    );
    let out = refused(&["--fingerprint", FP, "--debug", "--server", "gw:1"], &[]).await;
    assert!(out.contains("hopgate-agent: tunnel: no tunnel"), "{out}");

    let out = refused(&["http", "3000", "--bogus-flag"], &[]).await;
    assert!(out.contains("--bogus-flag"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_field_in_the_config_file_is_named() {
    let dir =
        std::env::temp_dir().join(format!("hopgate-agent-cfg-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("agent.toml");
    std::fs::write(&path, format!("server_addr = \"gw:1\"\n[[tunnel]]\ndomain = \"{DOMAIN}\"\napi_key = \"{KEY}\"\nlocal_port = 3000\n")).unwrap();
    let out = refused(&["--config", path.to_str().unwrap()], &[]).await;
    assert!(out.contains("unknown key `tunnel[1].local_port`"), "{out}");
    assert!(out.contains("line 5"), "{out}");
    std::fs::remove_dir_all(dir).unwrap();
}
