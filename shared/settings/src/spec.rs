//! A binary's table of settings, the clap command built from it, and [`Spec::load`].

use std::ffi::OsString;

use clap::{Arg, ArgAction, ArgMatches, Command};
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    SettingsError,
    layers::{self, Env, Provenance},
};

/// How a setting is written in env and flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One value.
    Value,
    /// Several values: comma-separated in env and flags, the flag repeatable; an array in
    /// the file.
    List,
    /// A boolean: `--flag` alone means true, `--flag=false` false.
    Switch,
}

/// One setting: its key in the TOML file (`db.dsn` = `dsn` in the `[db]` table), its
/// `HOP_…` variable, and its help line. The flag is the key with `.` and `_` as `-`
/// unless [`Setting::flag`] names another.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub key: &'static str,
    pub env: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    pub flag: Option<&'static str>,
}

impl Setting {
    /// A setting with one value.
    pub const fn value(key: &'static str, env: &'static str, help: &'static str) -> Self {
        Self {
            key,
            env,
            help,
            kind: Kind::Value,
            flag: None,
        }
    }

    /// A list setting.
    pub const fn list(key: &'static str, env: &'static str, help: &'static str) -> Self {
        Self {
            kind: Kind::List,
            ..Self::value(key, env, help)
        }
    }

    /// A boolean setting.
    pub const fn switch(key: &'static str, env: &'static str, help: &'static str) -> Self {
        Self {
            kind: Kind::Switch,
            ..Self::value(key, env, help)
        }
    }

    /// Another flag name than the one derived from the key (without `--`).
    pub const fn flag(self, flag: &'static str) -> Self {
        Self {
            flag: Some(flag),
            ..self
        }
    }

    /// The flag, with `--`.
    pub fn flag_name(&self) -> String {
        match self.flag {
            Some(flag) => format!("--{flag}"),
            None => format!("--{}", self.key.replace(['.', '_'], "-")),
        }
    }
}

/// A binary's settings.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub program: &'static str,
    pub about: &'static str,
    pub settings: &'static [Setting],
}

/// The loaded settings: the typed value, where each came from, and whether
/// `--print-config` was asked.
#[derive(Debug)]
pub struct Loaded<T> {
    pub value: T,
    pub provenance: Provenance,
    pub print_config: bool,
}

const CONFIG: &str = "config";
const PRINT: &str = "print_config";
/// The variable that names the config file when `--config` is absent.
pub(crate) const CONFIG_ENV: &str = "HOP_CONFIG";

impl Spec {
    /// The clap command: `--config FILE`, `--print-config`, and one flag per setting.
    pub fn command(&self) -> Command {
        let mut command = Command::new(self.program)
            .about(self.about)
            .version(env!("CARGO_PKG_VERSION"))
            .arg(
                Arg::new(CONFIG)
                    .long("config")
                    .value_name("FILE")
                    .help(format!(
                        "A TOML file of settings (`--print-config` shows the form) [env: {CONFIG_ENV}]"
                    )),
            )
            .arg(
                Arg::new(PRINT)
                    .long("print-config")
                    .action(ArgAction::SetTrue)
                    .help("Print the effective settings as TOML (secrets as ***) and exit"),
            );
        for setting in self.settings {
            let long = setting.flag_name();
            let arg = Arg::new(setting.key)
                .long(long.trim_start_matches("--").to_owned())
                .help(format!("{} [env: {}]", setting.help, setting.env));
            let arg = match setting.kind {
                Kind::Value => arg.value_name("VALUE"),
                Kind::List => arg
                    .value_name("VALUE")
                    .action(ArgAction::Append)
                    .value_delimiter(','),
                Kind::Switch => arg
                    .value_name("BOOL")
                    .num_args(0..=1)
                    .default_missing_value("true"),
            };
            command = command.arg(arg);
        }
        command
    }

    /// Reads the command line `args` (program name first) and `env`, layers them over the
    /// file and the defaults of `T`, and deserializes `T`.
    pub fn load<T: DeserializeOwned>(
        &self,
        args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
        env: &dyn Env,
    ) -> Result<Loaded<T>, SettingsError> {
        let matches = self.command().try_get_matches_from(args)?;
        let file = matches
            .get_one::<String>(CONFIG)
            .cloned()
            .or_else(|| layers::get(env, CONFIG_ENV));
        let flags = flag_values(self, &matches);
        let (value, provenance) = layers::build(self, file.as_deref(), env, flags)?;
        Ok(Loaded {
            value,
            provenance,
            print_config: matches.get_flag(PRINT),
        })
    }
}

/// The settings given on the command line: (setting, its values).
fn flag_values(spec: &Spec, matches: &ArgMatches) -> Vec<(Setting, Vec<String>)> {
    spec.settings
        .iter()
        .filter_map(|setting| {
            let values = matches.get_raw(setting.key)?;
            let values = values.map(|v| v.to_string_lossy().into_owned()).collect();
            Some((*setting, values))
        })
        .collect()
}

impl<T: Serialize> Loaded<T> {
    /// The effective settings as TOML; secrets serialize as `***`.
    pub fn to_toml(&self) -> Result<String, SettingsError> {
        Ok(toml::to_string(&self.value)?)
    }
}

impl<T> Loaded<T> {
    /// An error about the setting whose variable is `env` (or whose key is `env`), naming
    /// where its value came from.
    pub fn invalid(&self, env: &str, reason: impl Into<String>) -> SettingsError {
        SettingsError::Invalid {
            setting: self.provenance.describe(env),
            reason: reason.into(),
        }
    }
}
