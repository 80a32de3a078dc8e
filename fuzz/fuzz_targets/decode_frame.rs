//! Feeds arbitrary bytes to the frame decoder, decoding frame after frame until it asks
//! for more input or rejects it. The decoder must never panic, must consume nothing
//! unless it returns a frame, and any frame it returns must re-encode and decode to
//! itself.
//!
//! Run with `cargo +nightly fuzz run decode_frame` from the repository root; seeds are in
//! `fuzz/corpus/decode_frame`.

#![no_main]

use bytes::BytesMut;
use hopgate_protocol::{Decoder, Encoder, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let decoder = Decoder::new(Limits::default());
    let encoder = Encoder::new(Limits::default());
    let mut buf = BytesMut::from(data);
    loop {
        let before = buf.len();
        match decoder.decode(&mut buf) {
            Ok(Some(frame)) => {
                assert!(buf.len() < before, "a decoded frame consumed nothing");
                // Re-encoding may exceed the limits (the input may have used a more compact
                // MessagePack form than the encoder's named maps); when it fits, it must
                // decode back to the same frame.
                let mut wire = BytesMut::new();
                if encoder.encode(&frame, &mut wire).is_ok() {
                    let again = decoder.decode(&mut wire).expect("re-encoded frame decodes");
                    assert_eq!(again.as_ref(), Some(&frame));
                    assert!(wire.is_empty());
                }
            }
            Ok(None) | Err(_) => {
                assert_eq!(
                    buf.len(),
                    before,
                    "decode consumed input without returning a frame"
                );
                break;
            }
        }
    }
});
