//! The length of one MessagePack value, found by walking its markers without building it:
//! what lets the frame decoder read a payload straight from its bytes (strings borrowed,
//! not copied through a reader) and still reject bytes after the value.

/// The length in bytes of the one MessagePack value at the start of `bytes`, or `None`
/// if it is cut short or holds the never-used marker `0xc1`. Iterative, so nesting costs
/// no stack, and each step consumes at least one byte, so the walk ends within
/// `bytes.len()` steps whatever lengths the markers claim.
pub(crate) fn value_len(bytes: &[u8]) -> Option<usize> {
    let mut rest = bytes;
    // Values still to walk: the first, then the elements and entries the walk meets.
    let mut pending: u64 = 1;
    while pending > 0 {
        pending -= 1;
        let (&marker, after) = rest.split_first()?;
        rest = after;
        let (skip, children) = step(marker, &mut rest)?;
        rest = rest.get(skip..)?;
        pending = pending.checked_add(children)?;
    }
    Some(bytes.len() - rest.len())
}

/// For the value that starts with `marker`: the bytes to skip after its marker and any
/// length field (read from `rest`, which it consumes), and the values nested in it.
fn step(marker: u8, rest: &mut &[u8]) -> Option<(usize, u64)> {
    Some(match marker {
        // Positive and negative fixints, nil, false, true.
        0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, 0),
        0x80..=0x8f => (0, 2 * u64::from(marker & 0x0f)),
        0x90..=0x9f => (0, u64::from(marker & 0x0f)),
        0xa0..=0xbf => (usize::from(marker & 0x1f), 0),
        // bin 8/16/32, str 8/16/32.
        0xc4 | 0xd9 => (length(rest, 1)?, 0),
        0xc5 | 0xda => (length(rest, 2)?, 0),
        0xc6 | 0xdb => (length(rest, 4)?, 0),
        // ext 8/16/32: the length, then a type byte and the data.
        0xc7 => (length(rest, 1)?.checked_add(1)?, 0),
        0xc8 => (length(rest, 2)?.checked_add(1)?, 0),
        0xc9 => (length(rest, 4)?.checked_add(1)?, 0),
        // float 32/64, uint 8/16/32/64, int 8/16/32/64.
        0xca | 0xce | 0xd2 => (4, 0),
        0xcb | 0xcf | 0xd3 => (8, 0),
        0xcc | 0xd0 => (1, 0),
        0xcd | 0xd1 => (2, 0),
        // fixext 1/2/4/8/16: a type byte and the data.
        0xd4 => (2, 0),
        0xd5 => (3, 0),
        0xd6 => (5, 0),
        0xd7 => (9, 0),
        0xd8 => (17, 0),
        // array 16/32, map 16/32.
        0xdc => (0, length(rest, 2)? as u64),
        0xdd => (0, length(rest, 4)? as u64),
        0xde => (0, 2 * length(rest, 2)? as u64),
        0xdf => (0, 2 * length(rest, 4)? as u64),
        0xc1 => return None,
    })
}

/// A big-endian length of `width` bytes taken from the front of `rest`.
fn length(rest: &mut &[u8], width: usize) -> Option<usize> {
    let (field, after) = rest.split_at_checked(width)?;
    *rest = after;
    let value = field
        .iter()
        .fold(0u64, |value, byte| (value << 8) | u64::from(*byte));
    usize::try_from(value).ok()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Serialize;

    use super::*;

    /// A value with every kind of marker the walk knows, at every width.
    #[derive(Serialize)]
    struct Everything {
        small: Vec<i64>,
        wide: Vec<u64>,
        floats: (f32, f64),
        strings: Vec<String>,
        #[serde(with = "serde_bytes")]
        blob: Vec<u8>,
        #[serde(with = "serde_bytes")]
        big_blob: Vec<u8>,
        flags: (bool, bool, Option<u8>),
        map: BTreeMap<String, Vec<u16>>,
        long_list: Vec<u8>,
        nested: Vec<Vec<Vec<i8>>>,
    }

    fn everything() -> Everything {
        Everything {
            small: vec![0, 1, 127, -1, -32, -33, -128, -129, -40_000, -3_000_000_000],
            wide: vec![128, 255, 256, 65_535, 65_536, 4_294_967_296, u64::MAX],
            floats: (1.5, -2.25),
            strings: vec![
                String::new(),
                "x".repeat(31),
                "y".repeat(32),
                "z".repeat(300),
                "w".repeat(70_000),
            ],
            blob: vec![7; 10],
            big_blob: vec![9; 70_000],
            flags: (true, false, None),
            map: (0..20)
                .map(|i| (format!("k{i}"), vec![i; i as usize]))
                .collect(),
            long_list: vec![1; 70_000],
            nested: vec![vec![vec![1, -1]; 3]; 17],
        }
    }

    #[test]
    fn the_length_is_the_encoded_values() {
        let one = rmp_serde::to_vec_named(&everything()).unwrap();
        assert_eq!(value_len(&one), Some(one.len()));
        let mut two = one.clone();
        two.extend_from_slice(&[0xc0, 0x01]);
        assert_eq!(value_len(&two), Some(one.len()));
        let as_array = rmp_serde::to_vec(&everything()).unwrap();
        assert_eq!(value_len(&as_array), Some(as_array.len()));
    }

    #[test]
    fn ext_values_are_walked_whole() {
        for (ext, len) in [
            (vec![0xd4, 1, 0], 3),
            (vec![0xd5, 1, 0, 0], 4),
            (vec![0xd6, 1, 0, 0, 0, 0], 6),
            (vec![0xd7, 1, 0, 0, 0, 0, 0, 0, 0, 0], 10),
            ([vec![0xd8, 1], vec![0; 16]].concat(), 18),
            (vec![0xc7, 2, 1, 0, 0], 5),
            (vec![0xc8, 0, 1, 1, 0], 5),
            (vec![0xc9, 0, 0, 0, 1, 1, 0], 7),
        ] {
            assert_eq!(value_len(&ext), Some(len), "{ext:02x?}");
        }
    }

    #[test]
    fn a_value_cut_anywhere_has_no_length() {
        let value = rmp_serde::to_vec_named(&everything()).unwrap();
        // Every cut inside the head, then a sample of cuts through the rest.
        let cuts = (0..2_000).chain((2_000..value.len()).step_by(997));
        for cut in cuts {
            assert_eq!(value_len(&value[..cut]), None, "cut at {cut}");
        }
    }

    #[test]
    fn lengths_beyond_the_bytes_end_the_walk_at_once() {
        for claim in [
            vec![0xdd, 0xff, 0xff, 0xff, 0xff],
            vec![0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0],
            vec![0xdb, 0xff, 0xff, 0xff, 0xff, b'a'],
            vec![0xc9, 0xff, 0xff, 0xff, 0xff, 1],
            vec![0xc1],
        ] {
            assert_eq!(value_len(&claim), None, "{claim:02x?}");
        }
    }
}
