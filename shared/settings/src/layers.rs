//! The layers (file < environment < flags) as `config` sources, and [`build`], which
//! layers them and records where each value came from.

use std::collections::HashMap;

use config::{ConfigError, Map, Source, Value, ValueKind};
use serde::de::DeserializeOwned;

use crate::{
    Kind, Origin, Setting, SettingsError, Spec,
    entries::{self, Entry},
    file,
    provenance::Provenance,
};

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
        std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
    }
}

impl<V: AsRef<str>> Env for HashMap<&str, V> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).map(|v| v.as_ref().to_owned())
    }
}

impl<V: AsRef<str>> Env for HashMap<String, V> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).map(|v| v.as_ref().to_owned())
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

/// The value `values` give `setting`: a list or the last one.
fn value(setting: &Setting, origin: &String, values: Vec<String>) -> Value {
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
        Kind::Value | Kind::Switch | Kind::Toggle => {
            ValueKind::String(values.last().cloned().unwrap_or_default())
        }
    };
    Value::new(Some(origin), kind)
}

/// The settings the environment and the flags give: (setting, origin, values), lowest
/// first.
fn given(
    spec: &Spec,
    env: &dyn Env,
    flags: Vec<(Setting, Vec<String>)>,
) -> Vec<(Setting, Origin, Vec<String>)> {
    let from_env = spec.settings.iter().filter_map(|setting| {
        let value = get(env, setting.env)?;
        Some((*setting, Origin::Env(setting.env.to_owned()), vec![value]))
    });
    let from_flags = flags
        .into_iter()
        .map(|(setting, values)| (setting, Origin::Flag(setting.flag_name()), values));
    from_env.chain(from_flags).collect()
}

/// Builds `T` from the file at `file` (if any), `env` and the `flags`, in that order.
pub(crate) fn build<T: DeserializeOwned>(
    spec: &Spec,
    file: Option<&str>,
    env: &dyn Env,
    flags: Vec<(Setting, Vec<String>)>,
) -> Result<(T, Provenance), SettingsError> {
    let mut provenance = Provenance::new(spec);
    let mut builder = config::Config::builder();
    let mut file_values = Map::new();
    if let Some(path) = file {
        let read = file::read(path)?;
        for key in file::check(spec, path, &read)? {
            let origin = Origin::File {
                path: path.to_owned(),
                key: key.clone(),
            };
            provenance.set(key, origin);
        }
        builder = builder.add_source(Layer(read.values.clone()));
        file_values = read.values;
    }
    let mut singles: HashMap<&str, Entry> = HashMap::new();
    let (mut from_env, mut from_flags) = (Layer(Map::new()), Layer(Map::new()));
    for (setting, origin, values) in given(spec, env, flags) {
        let (name, layer) = match &origin {
            Origin::Env(name) => (name.clone(), &mut from_env),
            Origin::Flag(name) => (name.clone(), &mut from_flags),
            Origin::Default | Origin::File { .. } => continue,
        };
        let value = value(&setting, &name, values);
        match spec.array_of(&setting) {
            Some(array) => {
                let field = &setting.key[array.key.len() + 1..];
                singles
                    .entry(array.key)
                    .or_default()
                    .set(field, value, origin);
            }
            None => {
                layer.0.insert(setting.key.to_owned(), value);
                provenance.set(setting.key.to_owned(), origin);
            }
        }
    }
    let mut from_arrays = Layer(Map::new());
    for array in spec.arrays {
        let in_file = entries::from_file(array, file.unwrap_or_default(), &file_values);
        let single = singles.remove(array.key).unwrap_or_default();
        let merged = entries::merge(spec, array, single, in_file)?;
        if !merged.is_empty() {
            let value = entries::into_value(array, merged, &mut provenance);
            from_arrays.0.insert(array.key.to_owned(), value);
        }
    }
    let built = builder
        .add_source(from_env)
        .add_source(from_flags)
        .add_source(from_arrays)
        .build()
        .map_err(|e| invalid(&provenance, e))?;
    let value = built
        .try_deserialize()
        .map_err(|e| invalid(&provenance, e))?;
    Ok((value, provenance))
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
