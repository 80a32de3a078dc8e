//! A `tracing` event's fields, collected so slog can write them: the `message` field
//! becomes the line's `msg`, every other field a key of the line with its value's type
//! kept (numbers and booleans stay JSON numbers and booleans).

use std::fmt;

use slog::{KV, Record, Serializer};
use tracing::field::{Field, Visit};

/// One field's value.
enum Value {
    Str(String),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
}

/// The fields of one event.
#[derive(Default)]
pub(crate) struct Fields {
    pub(crate) message: String,
    values: Vec<(&'static str, Value)>,
}

impl Fields {
    fn push(&mut self, field: &Field, value: Value) {
        match (field.name(), value) {
            ("message", Value::Str(message)) => self.message = message,
            (name, value) => self.values.push((name, value)),
        }
    }
}

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, Value::F64(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, Value::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, Value::U64(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, Value::Str(value.to_owned()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, Value::Str(format!("{value:?}")));
    }
}

impl KV for Fields {
    fn serialize(&self, _: &Record<'_>, serializer: &mut dyn Serializer) -> slog::Result {
        for (key, value) in &self.values {
            match value {
                Value::Str(v) => serializer.emit_str(key, v)?,
                Value::I64(v) => serializer.emit_i64(key, *v)?,
                Value::U64(v) => serializer.emit_u64(key, *v)?,
                Value::F64(v) => serializer.emit_f64(key, *v)?,
                Value::Bool(v) => serializer.emit_bool(key, *v)?,
            }
        }
        Ok(())
    }
}
