//! Byte-string values decoded as slices of one copy of their frame's payload.
//!
//! A head frame carries a value per header field. Decoded one by one, each would be a
//! heap block of its own, and handing one on (to an `http::HeaderValue`, which keeps a
//! `Bytes`) would allocate again to share it. Instead the decoder copies the payload once
//! into a [`Bytes`] ([`decode_sharing`]) and every value is a slice of that copy
//! ([`deserialize`]): a reference count, not an allocation. The copy is the payload's
//! size, so a kept value holds on to its own head's bytes and nothing more (not the
//! stream's read buffer).
//!
//! Serde has no way to hand a deserializer's source to a field, so the copy sits in a
//! thread-local for the length of one decode call. Outside such a call — or for bytes
//! that are not part of it — a value is copied, as a plain `Vec`-backed `Bytes` would be.

use std::cell::RefCell;
use std::fmt;

use bytes::Bytes;
use serde::Deserializer;
use serde::de::{Error, SeqAccess, Visitor};

thread_local! {
    /// The payload being decoded on this thread, if any.
    static SOURCE: RefCell<Option<Bytes>> = const { RefCell::new(None) };
}

/// Runs `decode` on `payload`, copied once into a [`Bytes`] that the byte-string values
/// decoded meanwhile on this thread are sliced from.
pub(crate) fn decode_sharing<T>(payload: &[u8], decode: impl FnOnce(&[u8]) -> T) -> T {
    let source = Bytes::copy_from_slice(payload);
    let _guard = SourceGuard::install(source.clone());
    decode(&source)
}

/// Puts the previous source back when the decode ends, also by unwinding.
struct SourceGuard {
    previous: Option<Bytes>,
}

impl SourceGuard {
    fn install(source: Bytes) -> Self {
        let previous = SOURCE.with_borrow_mut(|slot| slot.replace(source));
        Self { previous }
    }
}

impl Drop for SourceGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        SOURCE.with_borrow_mut(|slot| *slot = previous);
    }
}

/// `value` as a slice of the payload being decoded when it lies within it, else a copy.
fn share_or_copy(value: &[u8]) -> Bytes {
    SOURCE.with_borrow(|source| match source {
        Some(source) if lies_within(value, source) => source.slice_ref(value),
        _ => Bytes::copy_from_slice(value),
    })
}

fn lies_within(value: &[u8], source: &[u8]) -> bool {
    let (start, at) = (source.as_ptr() as usize, value.as_ptr() as usize);
    at >= start && value.len() <= source.len() && at - start <= source.len() - value.len()
}

/// A byte string (or a string, or a sequence of bytes, as
/// `serde_bytes` accepts) as [`Bytes`], sliced from the payload when borrowed from it.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Bytes, D::Error> {
    deserializer.deserialize_byte_buf(BytesVisitor)
}

struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Bytes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a byte string")
    }

    fn visit_borrowed_bytes<E: Error>(self, value: &'de [u8]) -> Result<Bytes, E> {
        Ok(share_or_copy(value))
    }

    fn visit_bytes<E: Error>(self, value: &[u8]) -> Result<Bytes, E> {
        Ok(Bytes::copy_from_slice(value))
    }

    fn visit_byte_buf<E: Error>(self, value: Vec<u8>) -> Result<Bytes, E> {
        Ok(Bytes::from(value))
    }

    fn visit_borrowed_str<E: Error>(self, value: &'de str) -> Result<Bytes, E> {
        Ok(share_or_copy(value.as_bytes()))
    }

    fn visit_str<E: Error>(self, value: &str) -> Result<Bytes, E> {
        Ok(Bytes::copy_from_slice(value.as_bytes()))
    }

    fn visit_string<E: Error>(self, value: String) -> Result<Bytes, E> {
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
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize)]
    struct Field {
        #[serde(with = "serde_bytes")]
        raw: Vec<u8>,
    }

    #[derive(Deserialize)]
    struct Decoded {
        #[serde(deserialize_with = "deserialize")]
        raw: Bytes,
    }

    fn encoded(raw: &[u8]) -> Vec<u8> {
        rmp_serde::to_vec_named(&Field { raw: raw.to_vec() }).unwrap()
    }

    #[test]
    fn values_decoded_while_sharing_are_slices_of_one_copy() {
        let payload = encoded(b"text/plain");
        let (decoded, also) = decode_sharing(&payload, |bytes| {
            let decoded: Decoded = rmp_serde::from_slice(bytes).unwrap();
            let also: Decoded = rmp_serde::from_slice(bytes).unwrap();
            (decoded.raw, also.raw)
        });
        assert_eq!(decoded, "text/plain");
        // Both point into the same copy (not into `payload`, which the caller may reuse).
        assert_eq!(decoded.as_ptr(), also.as_ptr());
        let in_payload = payload.as_ptr_range();
        assert!(!in_payload.contains(&decoded.as_ptr()));
    }

    #[test]
    fn outside_a_sharing_decode_values_are_copies() {
        let payload = encoded(b"gzip");
        let decoded: Decoded = rmp_serde::from_slice(&payload).unwrap();
        assert_eq!(decoded.raw, "gzip");
        assert!(!payload.as_ptr_range().contains(&decoded.raw.as_ptr()));
        // Bytes from a reader (not borrowed) and from another buffer are copied too.
        let read: Decoded = rmp_serde::from_read(&payload[..]).unwrap();
        assert_eq!(read.raw, "gzip");
        let other = encoded(b"other");
        let copied = decode_sharing(&payload, |_| {
            rmp_serde::from_slice::<Decoded>(&other).unwrap().raw
        });
        assert_eq!(copied, "other");
        assert!(!other.as_ptr_range().contains(&copied.as_ptr()));
    }

    #[test]
    fn the_source_is_put_back_after_a_panicking_decode() {
        let payload = encoded(b"x");
        let caught = std::panic::catch_unwind(|| decode_sharing(&payload, |_| panic!("boom")));
        assert!(caught.is_err());
        assert!(SOURCE.with_borrow(Option::is_none));
    }

    #[test]
    fn empty_and_edge_values_are_within_or_not() {
        let source = [1u8, 2, 3, 4];
        assert!(lies_within(&source[..0], &source));
        assert!(lies_within(&source[4..], &source));
        assert!(lies_within(&source[1..4], &source));
        assert!(lies_within(&source, &source));
        let other = [1u8, 2, 3, 4, 5];
        assert!(!lies_within(&other, &source));
        assert!(!lies_within(&other[..1], &source[..0]));
        assert!(!lies_within(&other, &other[..3]), "longer than the source");
        assert!(
            !lies_within(&other[2..], &other[..3]),
            "running past its end"
        );
    }
}
