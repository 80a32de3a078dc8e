//! The admin CLI's settings: URL, key sources and their errors, the domain's form.

use std::{collections::HashMap, fs, os::unix::fs::PermissionsExt};

use hopgate_test_support::TempDir;

use super::*;

fn load_with(action: Action, args: &[&str], env: &[(&str, &str)]) -> Result<Invocation, String> {
    let env: HashMap<&str, &str> = env.iter().copied().collect();
    let args = args.iter().map(OsString::from);
    match load(action, args, &env) {
        Ok(Parsed::Call(invocation)) => Ok(*invocation),
        Ok(Parsed::Print(text)) => Err(format!("printed {text}")),
        Err(e) => Err(e.to_string()),
    }
}

fn error(action: Action, args: &[&str], env: &[(&str, &str)]) -> String {
    match load_with(action, args, env) {
        Ok(_) => panic!("{args:?} {env:?}: accepted"),
        Err(e) => e,
    }
}

fn key_file(dir: &TempDir, mode: u32, content: &str) -> String {
    let path = dir.0.join(format!("key-{mode:o}"));
    fs::write(&path, content).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    path.display().to_string()
}

#[test]
fn defaults_to_the_local_api_and_the_key_variable() {
    let call = load_with(Action::List, &[], &[("HOP_ADMIN_KEY", " the-key \n")]).unwrap();
    assert_eq!(call.url.as_str(), "http://127.0.0.1:8081/");
    assert_eq!(call.key.key.expose(), "the-key");
    assert_eq!(call.key.source, "HOP_ADMIN_KEY");
    assert!(!call.json);
    assert_eq!(call.domain, None);
}

#[test]
fn flags_override_variables() {
    let env = [
        ("HOP_ADMIN_KEY", "k"),
        ("HOP_ADMIN_URL", "http://10.0.0.1:1"),
    ];
    let args = [
        "--url",
        "https://cp.example.com/admin/",
        "--json",
        "a.example.com",
    ];
    let call = load_with(Action::Show, &args, &env).unwrap();
    assert_eq!(call.url.as_str(), "https://cp.example.com/admin/");
    assert!(call.json);
    assert_eq!(call.domain.as_deref(), Some("a.example.com"));
}

#[test]
fn the_key_file_wins_and_must_be_private() {
    let dir = TempDir::new("admin-key");
    let private = key_file(&dir, 0o600, "file-key\n");
    let args = ["--admin-key-file", private.as_str()];
    let call = load_with(Action::List, &args, &[("HOP_ADMIN_KEY", "env-key")]).unwrap();
    assert_eq!(call.key.key.expose(), "file-key");
    assert_eq!(call.key.source, private);

    let open = key_file(&dir, 0o644, "file-key");
    let err = error(Action::List, &["--admin-key-file", &open], &[]);
    assert!(err.starts_with("--admin-key-file: "), "{err}");
    assert!(
        err.contains("mode 0644") && err.contains("chmod 600"),
        "{err}"
    );

    let empty = key_file(&dir, 0o400, " \n");
    let err = error(Action::List, &[], &[("HOP_ADMIN_KEY_FILE", &empty)]);
    assert!(
        err.starts_with("HOP_ADMIN_KEY_FILE: ") && err.ends_with("is empty"),
        "{err}"
    );

    let missing = dir.0.join("missing").display().to_string();
    let err = error(Action::List, &["--admin-key-file", &missing], &[]);
    assert!(err.contains("cannot read"), "{err}");
}

#[test]
fn no_key_names_both_ways_to_give_one() {
    let err = error(Action::List, &[], &[("HOP_ADMIN_KEY", " ")]);
    assert!(err.starts_with("HOP_ADMIN_KEY: required"), "{err}");
    assert!(err.contains("--admin-key-file"), "{err}");
}

#[test]
fn bad_urls_and_domains_name_their_source() {
    let key = [("HOP_ADMIN_KEY", "k")];
    let err = error(Action::List, &["--url", "127.0.0.1:8081"], &key);
    assert!(err.starts_with("--url: '127.0.0.1:8081' is not"), "{err}");
    let env = [("HOP_ADMIN_KEY", "k"), ("HOP_ADMIN_URL", "ftp://x")];
    let err = error(Action::List, &[], &env);
    assert!(err.starts_with("HOP_ADMIN_URL: "), "{err}");
    let err = error(Action::Add, &["a_b.example.com"], &key);
    assert!(
        err.starts_with("DOMAIN: 'a_b.example.com' label 'a_b'"),
        "{err}"
    );
    let err = error(Action::Remove, &["*.example.com"], &key);
    assert!(err.contains("wildcards"), "{err}");
}

#[test]
fn print_config_hides_nothing_secret_because_it_holds_none() {
    let env: HashMap<&str, &str> = HashMap::from([("HOP_ADMIN_KEY", "secret-key")]);
    let args = ["--print-config"].map(OsString::from);
    let Ok(Parsed::Print(text)) = load(Action::List, args, &env) else {
        panic!("not printed");
    };
    assert!(text.contains("url = \"http://127.0.0.1:8081\""), "{text}");
    assert!(!text.contains("secret-key"), "{text}");
}
