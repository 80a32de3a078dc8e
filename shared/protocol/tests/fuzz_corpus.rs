//! Runs the decoder over the cargo-fuzz seed corpus in `fuzz/corpus/decode_frame`, and
//! (ignored by default) regenerates the seeds.
//!
//! Seed file names say what each seed must do:
//! - `ok-*`: decodes into one or more frames, consuming every byte;
//! - `partial-*`: decodes into zero or more frames, then needs more bytes;
//! - `bad-*`: decoding ends in an error.
//!
//! Files with other names (inputs cargo-fuzz adds while fuzzing) only must not panic.
//!
//! Regenerate after a wire-format change with
//! `cargo test -p hopgate-protocol --test fuzz_corpus -- --ignored`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

use bytes::{BufMut, BytesMut};
use hopgate_protocol::{
    DEFAULT_MAX_HEAD_FRAME, DecodeError, Decoder, Frame, FrameType, Limits, Ping,
};

use common::{encode, sample_frames};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/decode_frame")
}

/// How a decode loop over one input ended.
enum Outcome {
    /// All bytes became frames.
    Complete(Vec<Frame>),
    /// Possibly some frames, then an incomplete one.
    NeedsMore,
    /// Possibly some frames, then an error.
    Failed(DecodeError),
}

/// The same loop as the fuzz target: decode until `Ok(None)` or `Err`.
fn decode_all(input: &[u8]) -> Outcome {
    let decoder = Decoder::new(Limits::default());
    let mut buf = BytesMut::from(input);
    let mut frames = Vec::new();
    loop {
        match decoder.decode(&mut buf) {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) if buf.is_empty() => return Outcome::Complete(frames),
            Ok(None) => return Outcome::NeedsMore,
            Err(e) => return Outcome::Failed(e),
        }
    }
}

#[test]
fn decoder_handles_every_corpus_file() {
    let dir = corpus_dir();
    let entries =
        fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    let mut files = 0;
    let mut types_seen = BTreeSet::new();
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let input = fs::read(&path).unwrap();
        files += 1;
        match decode_all(&input) {
            Outcome::Complete(frames) => {
                assert!(
                    !name.starts_with("bad-") && !name.starts_with("partial-"),
                    "{name} decoded fully"
                );
                if name.starts_with("ok-") {
                    assert!(!frames.is_empty(), "{name} holds no frame");
                }
                types_seen.extend(frames.iter().map(|f| f.frame_type().as_u8()));
            }
            Outcome::NeedsMore => {
                assert!(
                    !name.starts_with("ok-") && !name.starts_with("bad-"),
                    "{name} was incomplete"
                );
            }
            Outcome::Failed(err) => {
                assert!(
                    !name.starts_with("ok-") && !name.starts_with("partial-"),
                    "{name} failed: {err}"
                );
            }
        }
    }
    assert!(files > 0, "the fuzz corpus at {} is empty", dir.display());
    let all: BTreeSet<u8> = FrameType::ALL.iter().map(|t| t.as_u8()).collect();
    assert_eq!(
        types_seen, all,
        "the corpus must hold a valid seed for every frame type"
    );
}

/// The seeds: every sample frame, all of them back to back, and a few broken inputs.
fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut seeds = Vec::new();
    let mut all = Vec::new();
    for (name, frame) in sample_frames() {
        let wire = encode(&frame);
        all.extend_from_slice(&wire);
        seeds.push((format!("ok-{name}"), wire.to_vec()));
    }
    seeds.push(("ok-all-back-to-back".into(), all));

    let head = encode(&sample_frames()[2].1);
    seeds.push((
        "partial-request-head".into(),
        head[..head.len() - 3].to_vec(),
    ));
    seeds.push(("partial-header-only".into(), head[..3].to_vec()));

    seeds.push(("bad-unknown-type".into(), vec![0x00, 0, 0, 0, 0]));
    let mut too_large = BytesMut::new();
    too_large.put_u8(FrameType::RequestHead.as_u8());
    too_large.put_u32(u32::try_from(DEFAULT_MAX_HEAD_FRAME + 1).unwrap());
    seeds.push(("bad-head-too-large".into(), too_large.to_vec()));
    seeds.push((
        "bad-body-chunk-too-large".into(),
        vec![FrameType::BodyChunk.as_u8(), 0xff, 0xff, 0xff, 0xff],
    ));
    seeds.push((
        "bad-malformed-msgpack".into(),
        vec![FrameType::Hello.as_u8(), 0, 0, 0, 2, 0x81, 0xc1],
    ));
    let mut trailing = encode(&Frame::Ping(Ping { nonce: 1 })).to_vec();
    trailing[4] += 1;
    trailing.push(0xc0);
    seeds.push(("bad-trailing-bytes".into(), trailing));
    let mut after_valid = encode(&Frame::Ping(Ping { nonce: 2 })).to_vec();
    after_valid.extend_from_slice(&[0xee, 0, 0, 0, 0]);
    seeds.push(("bad-garbage-after-valid-frame".into(), after_valid));
    seeds
}

#[test]
#[ignore = "writes fuzz/corpus/decode_frame; run with --ignored after a wire-format change"]
fn regenerate_fuzz_corpus() {
    let dir = corpus_dir();
    fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in seeds() {
        fs::write(dir.join(name), bytes).unwrap();
    }
}

#[test]
fn seeds_behave_as_their_names_say() {
    // Checks the generator itself, so a regenerated corpus is right even before it is
    // written to disk.
    for (name, bytes) in seeds() {
        let ok = match decode_all(&bytes) {
            Outcome::Complete(frames) => name.starts_with("ok-") && !frames.is_empty(),
            Outcome::NeedsMore => name.starts_with("partial-"),
            Outcome::Failed(_) => name.starts_with("bad-"),
        };
        assert!(ok, "seed {name} does not behave as its name says");
    }
}
