//! The admin CLI's command line: `hopgate-control-plane admin domains ACTION [DOMAIN]`, one
//! `hopgate-settings` [`Spec`] per action (so each has its own `--help` and its settings
//! layered as the servers' are: defaults < `--config` file < `HOP_ADMIN_…` < flags), and
//! what they resolve to: the API's URL, the admin key, the output form and the domain.

use std::{
    ffi::OsString,
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

use hopgate_settings::{Env, Loaded, Secret, Setting, SettingsError, Spec};
use reqwest::Url;
use serde::{Deserialize, Serialize};

use crate::domain_name;

/// The program name errors start with before an action is known.
pub(crate) const PROGRAM: &str = "hopgate-control-plane admin";
/// The admin API the CLI calls unless told otherwise (the control-plane's own default).
pub(crate) const DEFAULT_URL: &str = "http://127.0.0.1:8081";
/// The variable that holds the admin key itself (never a flag: flags show in `ps`).
pub(crate) const KEY_ENV: &str = "HOP_ADMIN_KEY";
/// A key file larger than this is not a key.
const MAX_KEY_FILE: u64 = 4096;

const URL: Setting = Setting::value(
    "url",
    "HOP_ADMIN_URL",
    "The control-plane's admin API [default: http://127.0.0.1:8081]",
)
.value_name("URL");
const KEY_FILE: Setting = Setting::value(
    "admin_key_file",
    "HOP_ADMIN_KEY_FILE",
    "A file holding the admin key, readable by its owner only (mode 0600) [default: the key \
     in HOP_ADMIN_KEY]",
)
.value_name("PATH");
const JSON: Setting = Setting::toggle(
    "json",
    "HOP_ADMIN_JSON",
    "Print the API's JSON answer instead of text",
);
const MEMO: Setting =
    Setting::value("memo", "HOP_ADMIN_MEMO", "A note kept with the domain").value_name("TEXT");
const DOMAIN: Setting = Setting::value(
    "domain",
    "HOP_ADMIN_DOMAIN",
    "The domain, e.g. app.example.com (Unicode names are converted to their IDNA form)",
)
.positional("DOMAIN");

/// What the CLI does to the domains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Add,
    List,
    Show,
    RotateKey,
    Remove,
}

impl Action {
    pub(crate) const ALL: [Action; 5] = [
        Action::Add,
        Action::List,
        Action::Show,
        Action::RotateKey,
        Action::Remove,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Action::Add => "add",
            Action::List => "list",
            Action::Show => "show",
            Action::RotateKey => "rotate-key",
            Action::Remove => "remove",
        }
    }

    /// The action's command line and settings.
    pub(crate) fn spec(self) -> Spec {
        const ONE: &[Setting] = &[URL, KEY_FILE, JSON, DOMAIN];
        let (program, about, settings): (_, _, &'static [Setting]) = match self {
            Action::Add => (
                "hopgate-control-plane admin domains add",
                "Register a domain and print its client API key (shown this once)",
                &[URL, KEY_FILE, JSON, MEMO, DOMAIN],
            ),
            Action::List => (
                "hopgate-control-plane admin domains list",
                "List the registered domains",
                &[URL, KEY_FILE, JSON],
            ),
            Action::Show => (
                "hopgate-control-plane admin domains show",
                "Show one domain: connected pods, certificate, dates",
                ONE,
            ),
            Action::RotateKey => (
                "hopgate-control-plane admin domains rotate-key",
                "Replace a domain's client API key and print the new one (shown this once)",
                ONE,
            ),
            Action::Remove => (
                "hopgate-control-plane admin domains remove",
                "Unregister a domain: pods drop its agent sessions",
                ONE,
            ),
        };
        Spec::new(program, about, settings).config_env("HOP_ADMIN_CONFIG")
    }
}

/// The settings as a `--config` file holds them (field = TOML key).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct CliSettings {
    url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    admin_key_file: Option<PathBuf>,
    json: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    memo: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<String>,
}

impl Default for CliSettings {
    fn default() -> Self {
        Self {
            url: DEFAULT_URL.to_owned(),
            admin_key_file: None,
            json: false,
            memo: None,
            domain: None,
        }
    }
}

/// The admin key and where it came from (named when the API refuses it).
pub(crate) struct AdminKey {
    pub(crate) key: Secret,
    pub(crate) source: String,
}

/// One resolved command line.
pub(crate) struct Invocation {
    pub(crate) action: Action,
    pub(crate) url: Url,
    pub(crate) key: AdminKey,
    pub(crate) json: bool,
    /// The domain's ASCII form (all actions but `list`).
    pub(crate) domain: Option<String>,
    pub(crate) memo: Option<String>,
}

/// What reading the command line gave: a call to make, or `--print-config`'s text.
pub(crate) enum Parsed {
    Call(Box<Invocation>),
    Print(String),
}

/// Reads `action`'s command line (`args`: the action's own arguments, after
/// `admin domains ACTION`) and `env`. An error comes with the program name to print.
pub(crate) fn load(
    action: Action,
    args: impl IntoIterator<Item = OsString>,
    env: &dyn Env,
) -> Result<Parsed, SettingsError> {
    let spec = action.spec();
    let argv = std::iter::once(OsString::from(spec.program)).chain(args);
    let loaded = spec.load::<CliSettings>(argv, env)?;
    if loaded.print_config {
        return loaded.to_toml().map(Parsed::Print);
    }
    let url = parse_url(&loaded.value.url).map_err(|why| loaded.invalid(URL.env, why))?;
    let key = admin_key(&loaded, env)?;
    let domain = match &loaded.value.domain {
        Some(name) => Some(
            domain_name::from_unicode(name)
                .map_err(|why| loaded.invalid(DOMAIN.env, format!("'{name}' {why}")))?,
        ),
        None => None,
    };
    Ok(Parsed::Call(Box::new(Invocation {
        action,
        url,
        key,
        json: loaded.value.json,
        domain,
        memo: loaded.value.memo.clone(),
    })))
}

fn parse_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|e| format!("'{text}' is not a URL ({e})"))?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(url),
        _ => Err(format!("'{text}' is not an http:// or https:// URL")),
    }
}

/// The key from the key file if one is named, else from `HOP_ADMIN_KEY`.
fn admin_key(loaded: &Loaded<CliSettings>, env: &dyn Env) -> Result<AdminKey, SettingsError> {
    if let Some(path) = &loaded.value.admin_key_file {
        let key = read_key_file(path).map_err(|why| loaded.invalid(KEY_FILE.env, why))?;
        let source = path.display().to_string();
        return Ok(AdminKey { key, source });
    }
    match env.var(KEY_ENV).map(|v| v.trim().to_owned()) {
        Some(key) if !key.is_empty() => Ok(AdminKey {
            key: Secret::new(key),
            source: KEY_ENV.to_owned(),
        }),
        _ => Err(SettingsError::Invalid {
            setting: KEY_ENV.to_owned(),
            reason: format!(
                "required: the admin API's key (HOP_ADMIN_API_KEY of the control-plane), or {} \
                 naming a file that holds it",
                KEY_FILE.flag_name()
            ),
        }),
    }
}

/// A secret file's content, refused (like `ssh` refuses a private key) if anyone but its
/// owner may read or write it.
fn read_key_file(path: &Path) -> Result<Secret, String> {
    let shown = path.display();
    let meta = fs::metadata(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown} is not a file"));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{shown} is open to others (mode {mode:04o}): `chmod 600 {shown}`"
        ));
    }
    if meta.len() > MAX_KEY_FILE {
        return Err(format!(
            "{shown} is larger than {MAX_KEY_FILE} bytes: not a key"
        ));
    }
    let text = fs::read_to_string(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let key = text.trim();
    if key.is_empty() {
        return Err(format!("{shown} is empty"));
    }
    Ok(Secret::new(key))
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
