//! Arrays of tables (`[[tunnel]]`): the file's entries, the one entry variables and flags
//! give, and how that one is laid over the file's (see [`crate::Array`]).

use std::collections::BTreeMap;

use config::{Map, Value, ValueKind};

use crate::{
    Array, Origin, SettingsError, Spec,
    provenance::{Provenance, named},
};

/// One entry: each field's value and where it came from.
#[derive(Debug, Default)]
pub(crate) struct Entry {
    values: Map<String, Value>,
    origins: BTreeMap<String, Origin>,
    /// `path: array[k]` (from 1) if the entry is the file's.
    in_file: Option<String>,
}

impl Entry {
    /// Sets `field` (overriding).
    pub(crate) fn set(&mut self, field: &str, value: Value, origin: Origin) {
        self.values.insert(field.to_owned(), value);
        self.origins.insert(field.to_owned(), origin);
    }

    fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Each field from `self` if set, else from `below`.
    fn over(self, mut below: Self) -> Self {
        below.values.extend(self.values);
        below.origins.extend(self.origins);
        below
    }

    /// The value of `field` as text, if it is a string or a number.
    fn text(&self, field: &str) -> Option<String> {
        match &self.values.get(field)?.kind {
            ValueKind::String(s) => Some(s.trim().to_owned()),
            ValueKind::I64(n) => Some(n.to_string()),
            ValueKind::U64(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

/// The entries of `array` in the file's `values` (already checked to be tables).
pub(crate) fn from_file(array: &Array, path: &str, values: &Map<String, Value>) -> Vec<Entry> {
    let Some(ValueKind::Array(items)) = values.get(array.key).map(|v| &v.kind) else {
        return Vec::new();
    };
    let mut entries = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ValueKind::Table(fields) = &item.kind else {
            continue;
        };
        let name = format!("{}[{}]", array.key, i + 1);
        let mut entry = Entry {
            in_file: Some(format!("{path}: {name}")),
            ..Entry::default()
        };
        for (field, value) in fields {
            let origin = Origin::File {
                path: path.to_owned(),
                key: format!("{name}.{field}"),
            };
            entry.set(field, value.clone(), origin);
        }
        entries.push(entry);
    }
    entries
}

/// Lays `single` over `file` (see [`Array`]).
pub(crate) fn merge(
    spec: &Spec,
    array: &Array,
    single: Entry,
    mut file: Vec<Entry>,
) -> Result<Vec<Entry>, SettingsError> {
    if single.is_empty() {
        return Ok(file);
    }
    match file.len() {
        0 => Ok(vec![single]),
        1 => Ok(vec![single.over(file.remove(0))]),
        n => {
            let Some(wanted) = single.text(array.match_on) else {
                return Err(ambiguous(spec, array, &single, n));
            };
            let same = file.iter().position(|entry| {
                entry
                    .text(array.match_on)
                    .is_some_and(|v| v.eq_ignore_ascii_case(&wanted))
            });
            match same {
                Some(i) => {
                    let below = file.remove(i);
                    file.insert(i, single.over(below));
                }
                None => file.insert(0, single),
            }
            Ok(file)
        }
    }
}

/// Variables or flags gave fields of an entry, but not the one that says which of the
/// file's `n` entries they are for.
fn ambiguous(spec: &Spec, array: &Array, single: &Entry, n: usize) -> SettingsError {
    let setting = single
        .origins
        .values()
        .next()
        .map_or_else(|| array.key.to_owned(), |o| named(o.clone()));
    let key = format!("{}.{}", array.key, array.match_on);
    let (flag, env) = spec
        .settings
        .iter()
        .find(|s| s.key == key)
        .map_or((key.clone(), ""), |s| (s.flag_name(), s.env));
    SettingsError::Invalid {
        setting,
        reason: format!(
            "the config file has {n} [[{}]] entries; give {flag} (or {env}) to say which one \
             this is for",
            array.key
        ),
    }
}

/// The merged entries as a `config` value, recording where each field came from.
pub(crate) fn into_value(array: &Array, entries: Vec<Entry>, provenance: &mut Provenance) -> Value {
    let mut items = Vec::with_capacity(entries.len());
    for (i, entry) in entries.into_iter().enumerate() {
        for (field, origin) in entry.origins {
            provenance.set(format!("{}[{i}].{field}", array.key), origin);
        }
        if let Some(in_file) = entry.in_file {
            provenance.set_entry_file(array.key, i, in_file);
        }
        items.push(Value::new(None, ValueKind::Table(entry.values)));
    }
    Value::new(None, ValueKind::Array(items))
}
