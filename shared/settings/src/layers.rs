//! The layers (file < environment < flags) as `config` sources, and where each value came
//! from.

use std::collections::{BTreeMap, HashMap};

use config::{ConfigError, File, FileFormat, Map, Source, Value, ValueKind};
use serde::de::DeserializeOwned;

use crate::{Kind, Setting, SettingsError, Spec};

/// Where the `HOP_…` variables are read from: the process, or a map in tests.
pub trait Env {
    /// The variable's value, if set.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl Env for &[(&str, &str)] {
    fn var(&self, name: &str) -> Option<String> {
        self.iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

/// A variable's value, trimmed; empty counts as unset.
pub(crate) fn get(env: &dyn Env, name: &str) -> Option<String> {
    env.var(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The binary's default.
    Default,
    /// A key of the config file.
    File { path: String, key: String },
    /// A `HOP_…` variable.
    Env(String),
    /// A command-line flag (`--https-listen`).
    Flag(String),
}

/// The origin of every setting, by key.
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    origins: BTreeMap<String, Origin>,
    /// (key, variable) of every setting, to name a setting by its variable.
    names: Vec<(&'static str, &'static str)>,
}

impl Provenance {
    /// Where the setting `key` came from.
    pub fn origin(&self, key: &str) -> Origin {
        self.origins.get(key).cloned().unwrap_or(Origin::Default)
    }

    /// How an error names the setting whose variable (or key) is `name`: the variable, the
    /// flag, or `file: key` that set it; a default is named by its variable.
    pub fn describe(&self, name: &str) -> String {
        let Some(&(key, env)) = self.names.iter().find(|(k, e)| *e == name || *k == name) else {
            return name.to_owned();
        };
        match self.origin(key) {
            Origin::Default => env.to_owned(),
            Origin::File { path, key } => format!("{path}: {key}"),
            Origin::Env(var) => var,
            Origin::Flag(flag) => flag,
        }
    }
}

/// A layer of values, each tagged with its origin (a variable or a flag).
#[derive(Debug, Clone)]
struct Layer(Map<String, Value>);

impl Source for Layer {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<Map<String, Value>, ConfigError> {
        Ok(self.0.clone())
    }
}

impl Layer {
    fn insert(&mut self, setting: &Setting, origin: &String, values: Vec<String>) {
        let kind = match setting.kind {
            Kind::List => ValueKind::Array(
                values
                    .iter()
                    .flat_map(|v| v.split(','))
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(|v| Value::new(Some(origin), v))
                    .collect(),
            ),
            Kind::Value | Kind::Switch => {
                ValueKind::String(values.last().cloned().unwrap_or_default())
            }
        };
        self.0
            .insert(setting.key.to_owned(), Value::new(Some(origin), kind));
    }
}

/// Builds `T` from the file at `file` (if any), `env` and the `flags`, in that order.
pub(crate) fn build<T: DeserializeOwned>(
    spec: &Spec,
    file: Option<&str>,
    env: &dyn Env,
    flags: Vec<(Setting, Vec<String>)>,
) -> Result<(T, Provenance), SettingsError> {
    let mut provenance = Provenance {
        names: spec.settings.iter().map(|s| (s.key, s.env)).collect(),
        ..Provenance::default()
    };
    let mut builder = config::Config::builder();
    if let Some(path) = file {
        if let Err(e) = std::fs::metadata(path) {
            return Err(SettingsError::File {
                path: path.to_owned(),
                reason: format!("cannot read: {e}"),
            });
        }
        let source = File::new(path, FileFormat::Toml).required(true);
        let values = source.collect().map_err(|e| file_error(path, e))?;
        let mut leaves = Vec::new();
        flatten("", values, &mut leaves);
        for key in leaves {
            if !spec.settings.iter().any(|s| s.key == key) {
                return Err(SettingsError::File {
                    path: path.to_owned(),
                    reason: format!("unknown key `{key}` (`--help` lists the settings)"),
                });
            }
            let origin = Origin::File {
                path: path.to_owned(),
                key: key.clone(),
            };
            provenance.origins.insert(key, origin);
        }
        builder = builder.add_source(source);
    }
    let mut from_env = Layer(Map::new());
    for setting in spec.settings {
        if let Some(value) = get(env, setting.env) {
            let origin = setting.env.to_owned();
            from_env.insert(setting, &origin, vec![value]);
            let key = setting.key.to_owned();
            provenance.origins.insert(key, Origin::Env(origin));
        }
    }
    let mut from_flags = Layer(Map::new());
    for (setting, values) in flags {
        let origin = setting.flag_name();
        from_flags.insert(&setting, &origin, values);
        let key = setting.key.to_owned();
        provenance.origins.insert(key, Origin::Flag(origin));
    }
    let built = builder
        .add_source(from_env)
        .add_source(from_flags)
        .build()
        .map_err(|e| invalid(&provenance, e))?;
    let value = built
        .try_deserialize()
        .map_err(|e| invalid(&provenance, e))?;
    Ok((value, provenance))
}

/// The dotted paths of the values in `table` (arrays are values).
fn flatten(prefix: &str, table: Map<String, Value>, out: &mut Vec<String>) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key
        } else {
            format!("{prefix}.{key}")
        };
        match value.kind {
            ValueKind::Table(inner) => flatten(&path, inner, out),
            _ => out.push(path),
        }
    }
}

fn file_error(path: &str, err: ConfigError) -> SettingsError {
    let reason = match err {
        ConfigError::FileParse { cause, .. } => cause.to_string(),
        ConfigError::Foreign(cause) => cause.to_string(),
        other => other.to_string(),
    };
    // The TOML parser's message spans lines (position, excerpt, caret, reason): keep the
    // first and the last.
    let lines: Vec<&str> = reason
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let reason = match (lines.first(), lines.last()) {
        (Some(first), Some(last)) if lines.len() > 1 => format!("{first}: {last}"),
        _ => reason.trim().to_owned(),
    };
    SettingsError::File {
        path: path.to_owned(),
        reason,
    }
}

/// A deserialization error, named by where the bad value came from.
fn invalid(provenance: &Provenance, err: ConfigError) -> SettingsError {
    let (key, reason) = match err {
        ConfigError::At { error, key, .. } => (key, error.to_string()),
        ConfigError::Type {
            unexpected,
            expected,
            key,
            ..
        } => {
            // `string "abc"` reads better as `'abc'`.
            let found = unexpected.to_string();
            let found = match found.strip_prefix("string \"") {
                Some(text) => format!("'{}'", text.trim_end_matches('"')),
                None => found,
            };
            (key, format!("{found} is not {expected}"))
        }
        other => (None, other.to_string()),
    };
    let setting = match key {
        Some(key) => provenance.describe(&key),
        None => "configuration".to_owned(),
    };
    SettingsError::Invalid { setting, reason }
}
