//! serde helpers for values that come as strings in env and flags: socket addresses and
//! durations with messages that say what was expected, and the log level.

use std::{fmt, net::SocketAddr, time::Duration};

use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};

/// `500ms`, `30s`, `2m`, `1h30m`; a plain number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s).map_err(|_| format!("'{s}' is not a duration like 30s or 5m"))
}

/// How a duration is written back (`--print-config`): `30s`, `1h 30m`.
pub fn format_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// A string or a number from any layer (env and flags give strings, TOML may give 30).
#[derive(Deserialize)]
#[serde(untagged)]
enum Text {
    String(String),
    Number(u64),
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::String(s) => f.write_str(s),
            Self::Number(n) => write!(f, "{n}"),
        }
    }
}

/// `#[serde(with = "hopgate_settings::values::socket_addr")]`.
pub mod socket_addr {
    use super::*;

    pub fn serialize<S: Serializer>(addr: &SocketAddr, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(addr)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
        let text = String::deserialize(d)?;
        text.trim().parse().map_err(|_| {
            D::Error::custom(format!(
                "'{text}' is not a socket address (like 0.0.0.0:443 or [::1]:8081)"
            ))
        })
    }
}

/// `#[serde(with = "hopgate_settings::values::opt_socket_addr")]`, with `#[serde(default)]`.
pub mod opt_socket_addr {
    use super::*;

    pub fn serialize<S: Serializer>(addr: &Option<SocketAddr>, s: S) -> Result<S::Ok, S::Error> {
        match addr {
            Some(addr) => s.collect_str(addr),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
        super::socket_addr::deserialize(d).map(Some)
    }
}

/// `#[serde(with = "hopgate_settings::values::duration")]`.
pub mod duration {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = Text::deserialize(d)?;
        parse_duration(&text.to_string()).map_err(D::Error::custom)
    }
}

/// `#[serde(with = "hopgate_settings::values::opt_duration")]`, with `#[serde(default)]`.
pub mod opt_duration {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&format_duration(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        super::duration::deserialize(d).map(Some)
    }
}

/// `HOP_LOG_LEVEL`: the least severe log line written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    #[serde(alias = "warning")]
    Warn,
    #[default]
    Info,
    Debug,
}

impl LogLevel {
    /// The slog level of the same name.
    pub fn to_slog(self) -> slog::Level {
        match self {
            Self::Error => slog::Level::Error,
            Self::Warn => slog::Level::Warning,
            Self::Info => slog::Level::Info,
            Self::Debug => slog::Level::Debug,
        }
    }
}

/// `#[serde(with = "hopgate_settings::values::whole_number")]`: a number like `30`, in the
/// file or as text from env and flags. Stricter than the `config` crate, which reads
/// `true`, `"yes"` and `"on"` as 1: those are refused.
pub mod whole_number {
    use std::fmt;

    use serde::de::{self, Visitor};

    use super::*;

    pub fn serialize<S: Serializer>(n: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(*n)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        d.deserialize_any(WholeNumber)
    }

    struct WholeNumber;

    impl Visitor<'_> for WholeNumber {
        type Value = u64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a whole number")
        }

        fn visit_u64<E: de::Error>(self, n: u64) -> Result<u64, E> {
            Ok(n)
        }

        fn visit_i64<E: de::Error>(self, n: i64) -> Result<u64, E> {
            u64::try_from(n).map_err(|_| E::custom(format!("{n} is not a whole number")))
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<u64, E> {
            let trimmed = text.trim();
            // `parse` alone would take "+3".
            if trimmed.bytes().all(|b| b.is_ascii_digit())
                && let Ok(n) = trimmed.parse()
            {
                return Ok(n);
            }
            Err(E::custom(format!("'{text}' is not a whole number")))
        }

        fn visit_bool<E: de::Error>(self, b: bool) -> Result<u64, E> {
            Err(E::custom(format!("{b} is not a whole number")))
        }
    }
}
