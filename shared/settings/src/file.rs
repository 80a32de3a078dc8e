//! The config file: read by the `config` crate, every key checked against the spec (an
//! unknown one is named with its line), and errors that never quote a line (it could hold
//! a secret).

use config::{ConfigError, File, FileFormat, Map, Source, Value, ValueKind};
use toml::de::{DeTable, DeValue};

use crate::{SettingsError, Spec};

/// The file's text and its values.
pub(crate) struct Read {
    pub(crate) text: String,
    pub(crate) values: Map<String, Value>,
}

/// Reads and parses the file at `path`.
pub(crate) fn read(path: &str) -> Result<Read, SettingsError> {
    let text = std::fs::read_to_string(path).map_err(|e| SettingsError::File {
        path: path.to_owned(),
        reason: format!("cannot read: {e}"),
    })?;
    let values = File::from_str(&text, FileFormat::Toml)
        .collect()
        .map_err(|e| error(path, e))?;
    Ok(Read { text, values })
}

/// Checks that every key of the file is a setting (or a field of an array's entries) and
/// returns the dotted keys of the plain settings.
pub(crate) fn check(spec: &Spec, path: &str, read: &Read) -> Result<Vec<String>, SettingsError> {
    let unknown = |key: &str, segments: &[Segment<'_>]| {
        let line =
            line_of(&read.text, segments).map_or_else(String::new, |n| format!("line {n}: "));
        SettingsError::File {
            path: path.to_owned(),
            reason: format!("{line}unknown key `{key}` (`--help` lists the settings)"),
        }
    };
    let mut plain = Vec::new();
    for (key, value) in &read.values {
        let Some(array) = spec.arrays.iter().find(|a| a.key == key) else {
            for leaf in leaves(key, value) {
                if !spec.settings.iter().any(|s| s.key == leaf) {
                    let segments: Vec<_> = leaf.split('.').map(Segment::Key).collect();
                    return Err(unknown(&leaf, &segments));
                }
                plain.push(leaf);
            }
            continue;
        };
        let ValueKind::Array(entries) = &value.kind else {
            return Err(not_tables(path, array.key));
        };
        for (i, entry) in entries.iter().enumerate() {
            let ValueKind::Table(fields) = &entry.kind else {
                return Err(not_tables(path, array.key));
            };
            for (field, value) in fields {
                for leaf in leaves(field, value) {
                    let full = format!("{}.{leaf}", array.key);
                    if !spec.settings.iter().any(|s| s.key == full) {
                        let segments = [
                            Segment::Key(array.key),
                            Segment::Index(i),
                            Segment::Key(field),
                        ];
                        return Err(unknown(
                            &format!("{}[{}].{leaf}", array.key, i + 1),
                            &segments,
                        ));
                    }
                }
            }
        }
    }
    Ok(plain)
}

fn not_tables(path: &str, key: &str) -> SettingsError {
    SettingsError::File {
        path: path.to_owned(),
        reason: format!("`{key}` must be [[{key}]] tables"),
    }
}

/// The dotted paths of the values under `key` (arrays are values; an empty table is one).
fn leaves(key: &str, value: &Value) -> Vec<String> {
    match &value.kind {
        ValueKind::Table(inner) if !inner.is_empty() => inner
            .iter()
            .flat_map(|(k, v)| leaves(&format!("{key}.{k}"), v))
            .collect(),
        _ => vec![key.to_owned()],
    }
}

/// A step into the file's tree.
enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

/// The line (from 1) of the key at `segments`.
fn line_of(text: &str, segments: &[Segment<'_>]) -> Option<usize> {
    let document = DeTable::parse(text).ok()?;
    let mut table = document.get_ref();
    let mut array = None;
    let mut start = None;
    for segment in segments {
        match segment {
            Segment::Key(name) => {
                let (key, value) = table.iter().find(|(k, _)| k.get_ref() == name)?;
                start = Some(key.span().start);
                match value.get_ref() {
                    DeValue::Table(inner) => table = inner,
                    DeValue::Array(items) => array = Some(items),
                    _ => {}
                }
            }
            Segment::Index(i) => match array?.get(*i)?.get_ref() {
                DeValue::Table(inner) => table = inner,
                _ => return None,
            },
        }
    }
    start.map(|at| text[..at.min(text.len())].matches('\n').count() + 1)
}

/// A file that could not be parsed, named by its path and the parser's position.
pub(crate) fn error(path: &str, err: ConfigError) -> SettingsError {
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
