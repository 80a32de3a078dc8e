//! Arrays of tables, a subcommand with a positional argument, value-less toggles and
//! strict whole numbers, on a small settings struct.

use serde::{Deserialize, Serialize};

use crate::{Array, Origin, Secret, Setting, SettingsError, Spec, Subcommand, values};

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Demo {
    server: Option<String>,
    verbose: bool,
    #[serde(with = "values::whole_number")]
    retries: u64,
    site: Vec<Site>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Site {
    name: Option<String>,
    token: Option<Secret>,
    target: Option<String>,
}

const SETTINGS: &[Setting] = &[
    Setting::value("server", "HOP_X_SERVER", "where").value_name("HOST:PORT"),
    Setting::toggle("verbose", "HOP_X_VERBOSE", "more").short('v'),
    Setting::value("retries", "HOP_X_RETRIES", "how many"),
    Setting::value("site.name", "HOP_X_NAME", "name").flag("name"),
    Setting::value("site.token", "HOP_X_TOKEN", "secret").flag("token"),
    Setting::value("site.target", "HOP_X_TARGET", "what").positional("TARGET"),
];

const SPEC: Spec = Spec::new("demo", "demo", SETTINGS)
    .config_env("HOP_X_CONFIG")
    .arrays(&[Array {
        key: "site",
        match_on: "name",
    }])
    .subcommand(Subcommand {
        name: "serve",
        about: "serve",
    });

const TWO_SITES: &str = "server = \"s\"\n\n[[site]]\nname = \"a\"\ntarget = 1\n\n[[site]]\nname = \"B\"\ntoken = \"t-b\"\n";

struct File(std::path::PathBuf);

impl File {
    fn new(text: &str) -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("hopgate-arrays-{}-{n}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        Self(path)
    }
    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for File {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn load(args: &[&str], env: &[(&str, &str)]) -> Result<crate::Loaded<Demo>, SettingsError> {
    let mut argv = vec!["demo"];
    argv.extend_from_slice(args);
    SPEC.load(argv, &env)
}

fn names(demo: &Demo) -> Vec<&str> {
    demo.site
        .iter()
        .map(|s| s.name.as_deref().unwrap_or("-"))
        .collect()
}

#[test]
fn the_file_entries_alone() {
    let file = File::new(TWO_SITES);
    let loaded = load(&["--config", file.path()], &[]).unwrap();
    assert_eq!(names(&loaded.value), ["a", "B"]);
    assert_eq!(loaded.value.site[0].target.as_deref(), Some("1"));
    assert_eq!(
        loaded.provenance.origin("site[1].token"),
        Origin::File {
            path: file.path().to_owned(),
            key: "site[2].token".into()
        }
    );
    let loaded = load(&[], &[("HOP_X_CONFIG", file.path())]).unwrap();
    assert_eq!(
        loaded.value.site.len(),
        2,
        "the spec's own variable names the file"
    );
}

#[test]
fn the_given_entry_without_a_file_is_the_only_one() {
    let loaded = load(&["serve", "3000", "--name", "x"], &[("HOP_X_TOKEN", "k")]).unwrap();
    let site = &loaded.value.site[0];
    assert_eq!(loaded.value.site.len(), 1);
    assert_eq!(site.target.as_deref(), Some("3000"));
    assert_eq!(site.token.as_ref().unwrap().expose(), "k");
    assert_eq!(
        loaded.provenance.origin("site[0].target"),
        Origin::Flag("TARGET".into())
    );
    assert_eq!(
        loaded.provenance.describe_entry("site", 0, "token"),
        "HOP_X_TOKEN"
    );
    assert_eq!(loaded.provenance.describe("site[0].name"), "--name");
    assert!(load(&[], &[]).unwrap().value.site.is_empty());
}

#[test]
fn the_given_entry_is_laid_over_the_only_one_in_the_file() {
    let file = File::new("[[site]]\nname = \"a\"\ntoken = \"from-file\"\n");
    let env = [("HOP_X_TOKEN", "from-env")];
    let loaded = load(&["--config", file.path(), "serve", "9"], &env).unwrap();
    let site = &loaded.value.site[0];
    assert_eq!(loaded.value.site.len(), 1);
    assert_eq!(site.name.as_deref(), Some("a"));
    assert_eq!(site.token.as_ref().unwrap().expose(), "from-env");
    assert_eq!(site.target.as_deref(), Some("9"));
    let env_and_flag = load(&["--config", file.path(), "--token", "flag"], &env).unwrap();
    assert_eq!(
        env_and_flag.value.site[0].token.as_ref().unwrap().expose(),
        "flag"
    );
}

#[test]
fn with_several_in_the_file_the_match_field_picks_one() {
    let file = File::new(TWO_SITES);
    let loaded = load(&["--config", file.path(), "--name", "b", "serve", "7"], &[]).unwrap();
    assert_eq!(names(&loaded.value), ["a", "b"]);
    assert_eq!(loaded.value.site[1].target.as_deref(), Some("7"));
    assert_eq!(loaded.value.site[1].token.as_ref().unwrap().expose(), "t-b");
    // Another name: served first, in addition.
    let loaded = load(&["--config", file.path(), "--name", "c"], &[]).unwrap();
    assert_eq!(names(&loaded.value), ["c", "a", "B"]);
    assert_eq!(
        loaded.provenance.describe_entry("site", 2, "target"),
        format!("{}: site[2].target", file.path()),
        "a missing field of the file's entry is named in the file"
    );
    // No name: which one is unknown.
    let err = load(&["--config", file.path(), "--token", "t"], &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("--token: the config file has 2 [[site]] entries"),
        "{err}"
    );
    assert!(err.contains("--name (or HOP_X_NAME)"), "{err}");
}

#[test]
fn entry_errors_name_the_entry() {
    let file = File::new("[[site]]\nname = \"a\"\n\n[[site]]\nname = [1]\n");
    let err = load(&["--config", file.path()], &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!("{}: site[2].name:", file.path())),
        "{err}"
    );
    let loaded = load(&["--name", "x"], &[]).unwrap();
    assert_eq!(
        loaded.invalid_entry("site", 0, "name", "bad").to_string(),
        "--name: bad"
    );
}

#[test]
fn unknown_keys_in_entries_are_named_with_their_line() {
    let file =
        File::new("server = \"s\"\n[[site]]\nname = \"a\"\n[[site]]\nname = \"b\"\nport = 3\n");
    let err = load(&["--config", file.path()], &[])
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "{}: line 6: unknown key `site[2].port` (`--help` lists the settings)",
            file.path()
        )
    );
    let file = File::new("\nserve = 1\n");
    let err = load(&["--config", file.path()], &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 2: unknown key `serve`"), "{err}");
    for text in ["site = 1\n", "[site]\nname = \"a\"\n"] {
        let file = File::new(text);
        let err = load(&["--config", file.path()], &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("must be [[site]] tables"), "{text}: {err}");
    }
}

#[test]
fn a_subcommand_with_its_argument_and_flags_on_either_side() {
    let loaded = load(&["-v", "serve", "1", "--server", "s"], &[]).unwrap();
    assert!(loaded.value.verbose);
    assert_eq!(loaded.value.server.as_deref(), Some("s"));
    assert!(matches!(load(&["serve"], &[]), Err(SettingsError::Cli(_))));
    assert!(matches!(load(&["1"], &[]), Err(SettingsError::Cli(_))));
    assert!(matches!(
        load(&["--target", "1"], &[]),
        Err(SettingsError::Cli(_))
    ));
}

#[test]
fn a_toggle_takes_no_value_and_its_absence_leaves_the_setting_alone() {
    let loaded = load(&["--verbose", "serve", "1"], &[]).unwrap();
    assert!(
        loaded.value.verbose,
        "`serve` is the subcommand, not the toggle's value"
    );
    assert!(matches!(
        load(&["--verbose=false"], &[]),
        Err(SettingsError::Cli(_))
    ));
    let file = File::new("verbose = true\n");
    assert!(load(&["--config", file.path()], &[]).unwrap().value.verbose);
    assert!(
        load(&[], &[("HOP_X_VERBOSE", "TRUE")])
            .unwrap()
            .value
            .verbose
    );
    assert!(
        !load(&[], &[("HOP_X_VERBOSE", "off")])
            .unwrap()
            .value
            .verbose
    );
    let err = load(&[], &[("HOP_X_VERBOSE", "maybe")])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("HOP_X_VERBOSE: 'maybe' is not a boolean"),
        "{err}"
    );
    let loaded = load(&[], &[("HOP_X_VERBOSE", "true")]).unwrap();
    assert_eq!(
        loaded.provenance.origin("verbose"),
        Origin::Env("HOP_X_VERBOSE".into())
    );
}

#[test]
fn whole_numbers_are_strict() {
    assert_eq!(
        load(&[], &[("HOP_X_RETRIES", "12")]).unwrap().value.retries,
        12
    );
    let file = File::new("retries = 3\n");
    assert_eq!(
        load(&["--config", file.path()], &[]).unwrap().value.retries,
        3
    );
    for (text, found) in [
        ("retries = true\n", "true"),
        ("retries = \"yes\"\n", "'yes'"),
        ("retries = -1\n", "-1"),
    ] {
        let file = File::new(text);
        let err = load(&["--config", file.path()], &[])
            .unwrap_err()
            .to_string();
        let expected = format!("{}: retries: {found} is not a whole number", file.path());
        assert_eq!(err, expected, "{text}");
    }
    let err = load(&["--retries", "on"], &[]).unwrap_err().to_string();
    assert_eq!(err, "--retries: 'on' is not a whole number");
}

#[test]
fn print_config_shows_the_entries_with_secrets_masked() {
    let file = File::new(TWO_SITES);
    let loaded = load(&["--config", file.path()], &[]).unwrap();
    let text = loaded.to_toml().unwrap();
    assert_eq!(text.matches("[[site]]").count(), 2, "{text}");
    assert!(
        text.contains("token = \"***\"") && !text.contains("t-b"),
        "{text}"
    );
}

#[test]
fn help_shows_value_names_short_flags_and_the_argument() {
    let help = SPEC.command().render_help().to_string();
    assert!(help.contains("--server <HOST:PORT>"), "{help}");
    assert!(help.contains("--name <VALUE>"), "{help}");
    assert!(help.contains("-v, --verbose"), "{help}");
    assert!(help.contains("serve"), "{help}");
    let mut command = SPEC.command();
    let serve = command.find_subcommand_mut("serve").unwrap();
    let help = serve.render_help().to_string();
    assert!(
        help.contains("<TARGET>") && help.contains("[env: HOP_X_TARGET]"),
        "{help}"
    );
}
