//! The three head frames ([`RequestHead`], [`ResponseHead`], [`EndOfBody`]) to and from
//! MessagePack, by hand. Every request carries a request head, a response head and an end
//! of body each way; through serde (`rmp-serde`'s generic visitors) they took a sixth of
//! the agent's instructions per request and an eighth of the pod's (docs/benchmarks.md).
//!
//! The wire form is serde's, byte for byte: a map of the struct's fields by name, in
//! declaration order, strings as `str`, header values as `bin`, each header a map of
//! `name` and `value`, every length in its smallest form. `write` produces exactly what
//! `rmp_serde::to_vec_named` did (the tests hold it to that), so peers of either build
//! understand each other. `read` takes that form and what serde also took of it: fields
//! in any order, unknown fields skipped (a later version may add some), strings sent as
//! `bin` when they are UTF-8, values sent as `str`; it refuses anything else (a head as an
//! array, repeated or missing fields, a field of the wrong type) as malformed, with the
//! reason. Header values are slices of one copy of the payload, not a heap block each.

mod read;
mod write;

pub(crate) use read::{Malformed, Taken, read_end_of_body, read_request_head, read_response_head};
pub(crate) use write::{
    Count, TooLong, write_end_of_body, write_request_head, write_response_head,
};

#[cfg(test)]
mod tests;
