//! Feeds arbitrary bytes to one in-memory connection, split at arbitrary read
//! boundaries, and checks the same invariants as `tests/properties.rs`.
//!
//! Input format: the first byte `n` (mod 16) says how many of the following bytes
//! are piece lengths; the rest is what the client sends. A seed `\0` + request sends
//! the request in one piece.

#![no_main]

#[path = "../../tests/invariants/mod.rs"]
mod invariants;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&count, rest)) = data.split_first() else {
        return;
    };
    let count = usize::from(count % 16).min(rest.len());
    let (pieces, input) = rest.split_at(count);
    let pieces: Vec<usize> = pieces.iter().map(|&n| usize::from(n)).collect();
    let stream = invariants::serve(input.to_vec(), pieces);
    if let Err(violation) = invariants::check(input, &stream) {
        panic!("{violation}");
    }
});
