//! A binary's table of settings ([`Setting`], [`Spec`]) and [`Spec::load`].

use std::ffi::OsString;

use serde::{Serialize, de::DeserializeOwned};

use crate::{
    SettingsError, command,
    layers::{self, Env},
    provenance::Provenance,
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
    /// A boolean whose flag takes no value: `--flag` means true, its absence leaves the
    /// setting to the variable, the file or the default.
    Toggle,
}

/// One setting: its key in the TOML file (`db.dsn` = `dsn` in the `[db]` table, or a field
/// of an [`Array`]'s entries), its `HOP_…` variable, and its help line. The flag is the key
/// with `.` and `_` as `-` unless [`Setting::flag`] names another, or
/// [`Setting::positional`] makes it an argument.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub key: &'static str,
    pub env: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    pub flag: Option<&'static str>,
    pub short: Option<char>,
    /// The value name of a positional argument that gives the setting instead of a flag.
    pub positional: Option<&'static str>,
    /// What `--help` calls the flag's value (`VALUE` unless named).
    pub value_name: Option<&'static str>,
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
            short: None,
            positional: None,
            value_name: None,
        }
    }

    /// A list setting.
    pub const fn list(key: &'static str, env: &'static str, help: &'static str) -> Self {
        Self {
            kind: Kind::List,
            ..Self::value(key, env, help)
        }
    }

    /// A boolean setting whose flag may take a value (`--debug=false`).
    pub const fn switch(key: &'static str, env: &'static str, help: &'static str) -> Self {
        Self {
            kind: Kind::Switch,
            ..Self::value(key, env, help)
        }
    }

    /// A boolean setting whose flag takes no value.
    pub const fn toggle(key: &'static str, env: &'static str, help: &'static str) -> Self {
        Self {
            kind: Kind::Toggle,
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

    /// A one-letter flag as well (`-v`).
    pub const fn short(self, short: char) -> Self {
        Self {
            short: Some(short),
            ..self
        }
    }

    /// Given by a positional argument named `value_name` (of the [`Subcommand`], if the
    /// spec has one) instead of a flag.
    pub const fn positional(self, value_name: &'static str) -> Self {
        Self {
            positional: Some(value_name),
            ..self
        }
    }

    /// What `--help` calls the flag's value (`HOST:PORT`).
    pub const fn value_name(self, value_name: &'static str) -> Self {
        Self {
            value_name: Some(value_name),
            ..self
        }
    }

    /// How the command line names it: the flag with `--`, or the argument's value name.
    pub fn flag_name(&self) -> String {
        match (self.positional, self.flag) {
            (Some(name), _) => name.to_owned(),
            (None, Some(flag)) => format!("--{flag}"),
            (None, None) => format!("--{}", self.key.replace(['.', '_'], "-")),
        }
    }
}

/// An array of tables: `[[KEY]]` entries in the file, whose fields are the settings keyed
/// `KEY.FIELD`. Variables and flags give one entry; it is laid field by field over the
/// file's entry when the file has exactly one, else over the entry whose `match_on` field
/// is the same (ASCII case-insensitive), else it comes first, before the file's. With
/// several entries in the file and no `match_on` given, which one is meant is unknown: an
/// error.
#[derive(Debug, Clone, Copy)]
pub struct Array {
    pub key: &'static str,
    pub match_on: &'static str,
}

/// A subcommand that takes the positional settings (`agent http TARGET`); it may be left
/// out, and the flags may come before or after it.
#[derive(Debug, Clone, Copy)]
pub struct Subcommand {
    pub name: &'static str,
    pub about: &'static str,
}

/// A binary's settings.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub program: &'static str,
    pub about: &'static str,
    pub settings: &'static [Setting],
    /// The variable that names the config file when `--config` is absent.
    pub config_env: &'static str,
    pub arrays: &'static [Array],
    pub subcommand: Option<Subcommand>,
}

/// The loaded settings: the typed value, where each came from, and whether
/// `--print-config` was asked.
#[derive(Debug)]
pub struct Loaded<T> {
    pub value: T,
    pub provenance: Provenance,
    pub print_config: bool,
}

impl Spec {
    /// A spec with `HOP_CONFIG` naming the file, no arrays and no subcommand.
    pub const fn new(
        program: &'static str,
        about: &'static str,
        settings: &'static [Setting],
    ) -> Self {
        Self {
            program,
            about,
            settings,
            config_env: "HOP_CONFIG",
            arrays: &[],
            subcommand: None,
        }
    }

    /// Another variable than `HOP_CONFIG` names the config file.
    pub const fn config_env(self, config_env: &'static str) -> Self {
        Self { config_env, ..self }
    }

    /// The arrays of tables the file may hold.
    pub const fn arrays(self, arrays: &'static [Array]) -> Self {
        Self { arrays, ..self }
    }

    /// The subcommand that takes the positional settings.
    pub const fn subcommand(self, subcommand: Subcommand) -> Self {
        Self {
            subcommand: Some(subcommand),
            ..self
        }
    }

    /// The array a setting's key belongs to, if any.
    pub(crate) fn array_of(&self, setting: &Setting) -> Option<&'static Array> {
        self.arrays.iter().find(|a| {
            setting
                .key
                .strip_prefix(a.key)
                .is_some_and(|rest| rest.starts_with('.'))
        })
    }

    /// The clap command: `--config FILE`, `--print-config`, and one flag (or argument) per
    /// setting.
    pub fn command(&self) -> clap::Command {
        command::build(self)
    }

    /// Reads the command line `args` (program name first) and `env`, layers them over the
    /// file and the defaults of `T`, and deserializes `T`.
    pub fn load<T: DeserializeOwned>(
        &self,
        args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
        env: &dyn Env,
    ) -> Result<Loaded<T>, SettingsError> {
        let given = command::parse(self, args)?;
        let file = given.file.or_else(|| layers::get(env, self.config_env));
        let (value, provenance) = layers::build(self, file.as_deref(), env, given.flags)?;
        Ok(Loaded {
            value,
            provenance,
            print_config: given.print_config,
        })
    }
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

    /// An error about `field` of entry `index` (from 0) of the array `array`, naming where
    /// its value came from.
    pub fn invalid_entry(
        &self,
        array: &str,
        index: usize,
        field: &str,
        reason: impl Into<String>,
    ) -> SettingsError {
        SettingsError::Invalid {
            setting: self.provenance.describe_entry(array, index, field),
            reason: reason.into(),
        }
    }
}
