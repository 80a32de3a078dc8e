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

use super::access::{self, AccessChange};
use crate::domain_name;

/// The program name errors start with before an action is known.
pub(crate) const PROGRAM: &str = "hopgate-control-plane admin";
/// The admin API the CLI calls unless told otherwise (the control-plane's own default).
pub(crate) const DEFAULT_URL: &str = "http://127.0.0.1:8081";
/// The variable that holds the admin key itself (never a flag: flags show in `ps`).
pub(crate) const KEY_ENV: &str = "HOP_ADMIN_KEY";
/// A key or password file larger than this holds no secret of ours.
const MAX_SECRET_FILE: u64 = 4096;

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
pub(super) const USER: Setting = Setting::value(
    "user",
    "HOP_ADMIN_USER",
    "The Basic user visitors must give (its password from --password-stdin or --password-file)",
)
.value_name("USER");
pub(super) const PASSWORD_STDIN: Setting = Setting::toggle(
    "password_stdin",
    "HOP_ADMIN_PASSWORD_STDIN",
    "Read --user's password from the first line of standard input",
);
pub(super) const PASSWORD_FILE: Setting = Setting::value(
    "password_file",
    "HOP_ADMIN_PASSWORD_FILE",
    "Read --user's password from this file (its first line), readable by its owner only (mode \
     0600)",
)
.value_name("PATH");
pub(super) const ALLOW_CIDR: Setting = Setting::list(
    "allow_cidr",
    "HOP_ADMIN_ALLOW_CIDR",
    "Only visitors from these ranges (10.0.0.0/8, 2001:db8::/32, or an address) may reach the \
     domain; repeatable",
)
.value_name("CIDR");
pub(super) const DENY_CIDR: Setting = Setting::list(
    "deny_cidr",
    "HOP_ADMIN_DENY_CIDR",
    "Visitors from these ranges are refused, whatever else; repeatable",
)
.value_name("CIDR");
pub(super) const CLEAR: Setting = Setting::toggle(
    "clear",
    "HOP_ADMIN_CLEAR",
    "Remove the domain's access policy: everyone may reach it again",
);

/// What the CLI does to the domains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Add,
    List,
    Show,
    RotateKey,
    Remove,
    SetAuth,
}

impl Action {
    pub(crate) const ALL: [Action; 6] = [
        Action::Add,
        Action::List,
        Action::Show,
        Action::RotateKey,
        Action::Remove,
        Action::SetAuth,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Action::Add => "add",
            Action::List => "list",
            Action::Show => "show",
            Action::RotateKey => "rotate-key",
            Action::Remove => "remove",
            Action::SetAuth => "set-auth",
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
            Action::SetAuth => (
                "hopgate-control-plane admin domains set-auth",
                "Set who may reach a domain (a Basic user, allowed and denied address ranges; \
                 replaces the whole policy), or --clear it",
                &[
                    URL,
                    KEY_FILE,
                    JSON,
                    USER,
                    PASSWORD_STDIN,
                    PASSWORD_FILE,
                    ALLOW_CIDR,
                    DENY_CIDR,
                    CLEAR,
                    DOMAIN,
                ],
            ),
        };
        Spec::new(program, about, settings).config_env("HOP_ADMIN_CONFIG")
    }
}

/// The settings as a `--config` file holds them (field = TOML key).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct CliSettings {
    url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    admin_key_file: Option<PathBuf>,
    json: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    memo: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) user: Option<String>,
    pub(super) password_stdin: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) password_file: Option<PathBuf>,
    pub(super) allow_cidr: Vec<String>,
    pub(super) deny_cidr: Vec<String>,
    pub(super) clear: bool,
}

impl Default for CliSettings {
    fn default() -> Self {
        Self {
            url: DEFAULT_URL.to_owned(),
            admin_key_file: None,
            json: false,
            memo: None,
            domain: None,
            user: None,
            password_stdin: false,
            password_file: None,
            allow_cidr: Vec::new(),
            deny_cidr: Vec::new(),
            clear: false,
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
    /// `set-auth`'s policy.
    pub(crate) access: Option<AccessChange>,
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
    let access = match action {
        Action::SetAuth => Some(access::change(&loaded)?),
        _ => None,
    };
    Ok(Parsed::Call(Box::new(Invocation {
        action,
        url,
        key,
        json: loaded.value.json,
        domain,
        memo: loaded.value.memo.clone(),
        access,
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
        let key = read_secret_file(path).map_err(|why| loaded.invalid(KEY_FILE.env, why))?;
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

/// A key file's content, trimmed; see [`read_private_file`].
fn read_secret_file(path: &Path) -> Result<Secret, String> {
    let text = read_private_file(path)?;
    let key = text.trim();
    if key.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(Secret::new(key))
}

/// A file that holds a secret (a key or a password), refused (like `ssh` refuses a private
/// key) if anyone but its owner may read or write it.
pub(super) fn read_private_file(path: &Path) -> Result<String, String> {
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
    if meta.len() > MAX_SECRET_FILE {
        return Err(format!(
            "{shown} is larger than {MAX_SECRET_FILE} bytes: not a key or password"
        ));
    }
    fs::read_to_string(path).map_err(|e| format!("cannot read {shown}: {e}"))
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
