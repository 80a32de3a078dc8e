//! How serde reads a [`Header`] (the frame decoder reads heads by hand, in `head_wire`,
//! the same way): only as the map of `name` and `value` that the encoder writes. Serde's
//! derived form would also take a two-element array, whose smallest field is 4 bytes
//! instead of [`MIN_ENCODED_HEADER`](crate::MIN_ENCODED_HEADER):
//! a head could then hold four times [`Limits::max_head_fields`](crate::Limits) fields,
//! the count that HTTP parsers downstream are given as the most a head can hold.

use std::fmt;

use bytes::Bytes;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, de::DeserializeSeed};

use crate::http::Header;
use crate::known_names;

impl<'de> Deserialize<'de> for Header {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(HeaderVisitor)
    }
}

struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = Header;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a header field: a map of name and value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Header, A::Error> {
        let (mut name, mut value) = (None, None);
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Name if name.is_some() => return Err(de::Error::duplicate_field("name")),
                Key::Value if value.is_some() => return Err(de::Error::duplicate_field("value")),
                Key::Name => name = Some(map.next_value_seed(NameSeed)?),
                Key::Value => value = Some(map.next_value_seed(ValueSeed)?),
                // Fields a later version may add.
                Key::Other => drop(map.next_value::<IgnoredAny>()?),
            }
        }
        Ok(Header {
            name: name.ok_or_else(|| de::Error::missing_field("name"))?,
            value: value.ok_or_else(|| de::Error::missing_field("value"))?,
        })
    }
}

/// A key of a header field's map.
enum Key {
    Name,
    Value,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
        Ok(match key {
            "name" => Key::Name,
            "value" => Key::Value,
            _ => Key::Other,
        })
    }
}

struct NameSeed;

impl<'de> DeserializeSeed<'de> for NameSeed {
    type Value = std::borrow::Cow<'static, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        known_names::deserialize(deserializer)
    }
}

struct ValueSeed;

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Bytes;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_byte_buf(BytesVisitor)
    }
}

/// A byte string (or a string, or a sequence of bytes, as `serde_bytes` takes).
struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Bytes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a byte string")
    }

    fn visit_bytes<E: de::Error>(self, value: &[u8]) -> Result<Bytes, E> {
        Ok(Bytes::copy_from_slice(value))
    }

    fn visit_byte_buf<E: de::Error>(self, value: Vec<u8>) -> Result<Bytes, E> {
        Ok(Bytes::from(value))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Bytes, E> {
        Ok(Bytes::copy_from_slice(value.as_bytes()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Bytes, E> {
        Ok(Bytes::from(value))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
        // Capped: a claimed length is not trusted for an allocation.
        let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(byte) = seq.next_element::<u8>()? {
            bytes.push(byte);
        }
        Ok(Bytes::from(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Result<Header, rmp_serde::decode::Error> {
        rmp_serde::from_slice(bytes)
    }

    #[test]
    fn the_encoders_map_decodes_with_later_fields_ignored() {
        let header = Header::new("x-a", "1");
        assert_eq!(
            decode(&rmp_serde::to_vec_named(&header).unwrap()).unwrap(),
            header
        );
        // {"extra": 7, "value": bin "1", "name": "x-a"}: any order, unknown keys skipped.
        let wire = b"\x83\xa5extra\x07\xa5value\xc4\x011\xa4name\xa3x-a";
        assert_eq!(decode(wire).unwrap(), header);
    }

    #[test]
    fn an_array_is_refused() {
        // ["a", ""]: 4 bytes, under the 16 that bound a head's field count.
        let err = decode(b"\x92\xa1a\xa0").unwrap_err();
        assert!(err.to_string().contains("map of name and value"), "{err}");
    }

    #[test]
    fn missing_and_repeated_fields_are_refused() {
        let err = decode(b"\x81\xa4name\xa1a").unwrap_err();
        assert!(err.to_string().contains("value"), "{err}");
        let err = decode(b"\x81\xa5value\xc4\x00").unwrap_err();
        assert!(err.to_string().contains("name"), "{err}");
        let err = decode(b"\x83\xa4name\xa1a\xa5value\xc4\x00\xa4name\xa1b").unwrap_err();
        assert!(err.to_string().contains("duplicate"), "{err}");
    }
}
