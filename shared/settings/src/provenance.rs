//! Where each setting's value came from, and how an error names it.

use std::collections::BTreeMap;

use crate::Spec;

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The binary's default.
    Default,
    /// A key of the config file (`tunnel[2].domain` for a field of an array's entry,
    /// counted from 1 as people count the file's `[[tunnel]]`s).
    File { path: String, key: String },
    /// A `HOP_…` variable.
    Env(String),
    /// A command-line flag (`--https-listen`) or argument (`TARGET`).
    Flag(String),
}

/// The origin of every setting, by key; a field of an array's entry by `array[i].field`
/// (`i` from 0, as the `config` crate names it).
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    origins: BTreeMap<String, Origin>,
    /// (key, variable) of every setting, to name a setting by its variable.
    names: Vec<(&'static str, &'static str)>,
    /// `array[i]` → `file: array[k]`, for the entries that came from the file.
    entry_files: BTreeMap<String, String>,
}

impl Provenance {
    pub(crate) fn new(spec: &Spec) -> Self {
        Self {
            names: spec.settings.iter().map(|s| (s.key, s.env)).collect(),
            ..Self::default()
        }
    }

    pub(crate) fn set(&mut self, key: String, origin: Origin) {
        self.origins.insert(key, origin);
    }

    /// Entry `index` of `array` is the file's entry named `in_file` (`path: tunnel[2]`).
    pub(crate) fn set_entry_file(&mut self, array: &str, index: usize, in_file: String) {
        self.entry_files
            .insert(format!("{array}[{index}]"), in_file);
    }

    /// Where the setting `key` came from.
    pub fn origin(&self, key: &str) -> Origin {
        self.origins.get(key).cloned().unwrap_or(Origin::Default)
    }

    /// How an error names the setting whose variable (or key) is `name`: the variable, the
    /// flag, or `file: key` that set it; a default is named by its variable.
    pub fn describe(&self, name: &str) -> String {
        if let Some((array, index, field)) = entry_key(name) {
            return self.describe_entry(array, index, field);
        }
        let Some(&(key, env)) = self.names.iter().find(|(k, e)| *e == name || *k == name) else {
            return name.to_owned();
        };
        match self.origin(key) {
            Origin::Default => env.to_owned(),
            other => named(other),
        }
    }

    /// How an error names `field` of entry `index` (from 0) of `array`: where its value
    /// came from; a missing field by the file's entry if the entry is the file's, else by
    /// its variable.
    pub fn describe_entry(&self, array: &str, index: usize, field: &str) -> String {
        match self.origin(&format!("{array}[{index}].{field}")) {
            Origin::Default => match self.entry_files.get(&format!("{array}[{index}]")) {
                Some(in_file) => format!("{in_file}.{field}"),
                None => {
                    let key = format!("{array}.{field}");
                    let env = self.names.iter().find(|(k, _)| *k == key).map(|(_, e)| *e);
                    env.map_or(key.clone(), str::to_owned)
                }
            },
            other => named(other),
        }
    }
}

pub(crate) fn named(origin: Origin) -> String {
    match origin {
        Origin::Default => String::new(),
        Origin::File { path, key } => format!("{path}: {key}"),
        Origin::Env(name) | Origin::Flag(name) => name,
    }
}

/// `tunnel[1].domain` → (`tunnel`, 1, `domain`); the `config` crate's errors leave out the
/// dot (`tunnel[1]domain`).
fn entry_key(name: &str) -> Option<(&str, usize, &str)> {
    let (array, rest) = name.split_once('[')?;
    let (index, rest) = rest.split_once(']')?;
    let field = rest.strip_prefix('.').unwrap_or(rest);
    (!field.is_empty()).then_some((array, index.parse().ok()?, field))
}
