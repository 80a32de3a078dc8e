//! Layering, provenance and masking on a small settings struct.

use std::{net::SocketAddr, time::Duration};

use serde::{Deserialize, Serialize};

use crate::{Origin, Secret, Setting, SettingsError, Spec, values};

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Demo {
    #[serde(with = "values::socket_addr")]
    listen: SocketAddr,
    #[serde(with = "values::duration")]
    timeout: Duration,
    token: Option<Secret>,
    debug: bool,
    names: Vec<String>,
    db: Db,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Db {
    max_open: u32,
}

impl Default for Demo {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:1".parse().unwrap(),
            timeout: Duration::from_secs(10),
            token: None,
            debug: false,
            names: Vec::new(),
            db: Db::default(),
        }
    }
}

const SETTINGS: &[Setting] = &[
    Setting::value("listen", "HOP_LISTEN", "where"),
    Setting::value("timeout", "HOP_TIMEOUT", "how long"),
    Setting::value("token", "HOP_TOKEN", "secret"),
    Setting::switch("debug", "HOP_DEBUG", "debug"),
    Setting::list("names", "HOP_NAMES", "names").flag("name"),
    Setting::value("db.max_open", "HOP_DB_MAX_OPEN", "pool"),
];

const SPEC: Spec = Spec::new("demo", "demo", SETTINGS);

fn file(text: &str) -> (hopgate_dir::Dir, String) {
    let dir = hopgate_dir::Dir::new();
    let path = dir.0.join("demo.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path.display().to_string())
}

/// A private temporary directory, removed on drop.
mod hopgate_dir {
    pub(super) struct Dir(pub(super) std::path::PathBuf);
    impl Dir {
        pub(super) fn new() -> Self {
            let path = std::env::temp_dir().join(format!(
                "hopgate-settings-{}-{}",
                std::process::id(),
                rand_suffix()
            ));
            std::fs::create_dir_all(&path).unwrap();
            Self(path)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    fn rand_suffix() -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }
}

fn load(args: &[&str], env: &[(&str, &str)]) -> Result<crate::Loaded<Demo>, SettingsError> {
    let mut argv = vec!["demo"];
    argv.extend_from_slice(args);
    SPEC.load(argv, &env)
}

#[test]
fn defaults_then_file_then_env_then_flags() {
    let (_dir, path) = file("listen = \"127.0.0.1:2\"\ntimeout = \"1m\"\n[db]\nmax_open = 7\n");
    let only_defaults = load(&[], &[]).unwrap().value;
    assert_eq!(only_defaults.listen.port(), 1);
    let with_file = load(&["--config", &path], &[]).unwrap();
    assert_eq!(with_file.value.listen.port(), 2);
    assert_eq!(with_file.value.timeout, Duration::from_secs(60));
    assert_eq!(with_file.value.db.max_open, 7);
    let env = [("HOP_LISTEN", "127.0.0.1:3"), ("HOP_DB_MAX_OPEN", "9")];
    let with_env = load(&["--config", &path], &env).unwrap();
    assert_eq!(with_env.value.listen.port(), 3);
    assert_eq!(with_env.value.db.max_open, 9);
    assert_eq!(with_env.value.timeout, Duration::from_secs(60));
    let with_flag = load(&["--config", &path, "--listen", "127.0.0.1:4"], &env).unwrap();
    assert_eq!(with_flag.value.listen.port(), 4);
    assert_eq!(
        with_flag.provenance.origin("listen"),
        Origin::Flag("--listen".into())
    );
    assert_eq!(
        with_flag.provenance.origin("db.max_open"),
        Origin::Env("HOP_DB_MAX_OPEN".into())
    );
    assert!(matches!(
        with_flag.provenance.origin("timeout"),
        Origin::File { .. }
    ));
    assert_eq!(with_flag.provenance.origin("debug"), Origin::Default);
}

#[test]
fn config_file_from_hop_config() {
    let (_dir, path) = file("debug = true\n");
    assert!(load(&[], &[("HOP_CONFIG", &path)]).unwrap().value.debug);
}

#[test]
fn bad_values_name_their_origin() {
    let err = load(&[], &[("HOP_LISTEN", "abc")]).unwrap_err().to_string();
    assert!(
        err.starts_with("HOP_LISTEN: 'abc' is not a socket address"),
        "{err}"
    );
    let err = load(&["--listen", "abc"], &[]).unwrap_err().to_string();
    assert!(
        err.starts_with("--listen: 'abc' is not a socket address"),
        "{err}"
    );
    let (_dir, path) = file("listen = \"abc\"\n");
    let err = load(&["--config", &path], &[]).unwrap_err().to_string();
    assert!(err.starts_with(&format!("{path}: listen: 'abc'")), "{err}");
    let err = load(&[], &[("HOP_DB_MAX_OPEN", "many")])
        .unwrap_err()
        .to_string();
    assert_eq!(err, "HOP_DB_MAX_OPEN: 'many' is not an integer");
    let err = load(&[], &[("HOP_TIMEOUT", "soon")])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("HOP_TIMEOUT: 'soon' is not a duration"),
        "{err}"
    );
}

#[test]
fn unknown_keys_and_broken_files_name_the_file() {
    for text in [
        "listen_addr = \"x\"\n",
        "[db]\nmax_opn = 1\n",
        "[other]\nx = 1\n",
    ] {
        let (_dir, path) = file(text);
        let err = load(&["--config", &path], &[]).unwrap_err().to_string();
        assert!(
            err.starts_with(&path) && err.contains("unknown key"),
            "{err}"
        );
    }
    let (_dir, path) = file("listen = \n");
    let err = load(&["--config", &path], &[]).unwrap_err().to_string();
    assert!(err.starts_with(&path), "{err}");
    let err = load(&["--config", "/no/such/file.toml"], &[])
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("/no/such/file.toml: cannot read"), "{err}");
}

#[test]
fn lists_switches_and_empty_variables() {
    let env = [
        ("HOP_NAMES", "a, b,,c"),
        ("HOP_DEBUG", "true"),
        ("HOP_TOKEN", " "),
    ];
    let loaded = load(&[], &env).unwrap().value;
    assert_eq!(loaded.names, ["a", "b", "c"]);
    assert!(loaded.debug);
    assert!(loaded.token.is_none(), "an empty variable counts as unset");
    let loaded = load(&["--name", "x", "--name", "y,z", "--debug=false"], &env)
        .unwrap()
        .value;
    assert_eq!(loaded.names, ["x", "y", "z"]);
    assert!(!loaded.debug);
    assert!(load(&["--debug"], &[]).unwrap().value.debug);
}

#[test]
fn print_config_masks_secrets() {
    let loaded = load(&["--print-config"], &[("HOP_TOKEN", "hunter2-secret")]).unwrap();
    assert!(loaded.print_config);
    let text = loaded.to_toml().unwrap();
    assert!(
        text.contains("token = \"***\"") && !text.contains("hunter2"),
        "{text}"
    );
    assert!(text.contains("listen = \"127.0.0.1:1\""), "{text}");
    assert!(text.contains("timeout = \"10s\""), "{text}");
    assert_eq!(format!("{:?}", loaded.value.token), "Some(***)");
}

#[test]
fn validation_errors_name_the_origin() {
    let loaded = load(&["--listen", "127.0.0.1:0"], &[("HOP_TIMEOUT", "0")]).unwrap();
    assert_eq!(
        loaded.invalid("HOP_LISTEN", "no").to_string(),
        "--listen: no"
    );
    assert_eq!(
        loaded.invalid("HOP_TIMEOUT", "no").to_string(),
        "HOP_TIMEOUT: no"
    );
    assert_eq!(
        loaded.invalid("HOP_TOKEN", "required").to_string(),
        "HOP_TOKEN: required"
    );
}
