//! What smol-toy writes itself on the HTTP/3 path, fed arbitrary bytes: the frame
//! cap, over a stream's bytes cut at arbitrary boundaries, must stop at the same
//! frame as over the whole at once, without a panic; and a request head h3 could
//! hand over (any method, target and fields the `http` crate takes) must be read by
//! the shared rules without a panic, refused with a 4xx if at all.
//!
//! Input format: byte 0: bit 0, a unidirectional stream; bits 1-4, how many of the
//! following bytes are piece lengths. Bytes 1-2: the cap. Then the pieces, then the
//! stream's bytes, which also make a head: split at 0 bytes into the method, the
//! target and field names and values.

#![no_main]

use libfuzzer_sys::fuzz_target;
use smol_toy::testing::{frame_cap_verdicts, read_stream_head};

fuzz_target!(|data: &[u8]| {
    let [flags, high, low, rest @ ..] = data else {
        return;
    };
    let count = usize::from((flags >> 1) & 0x0f).min(rest.len());
    let (pieces, stream) = rest.split_at(count);
    let pieces: Vec<usize> = pieces.iter().map(|&n| usize::from(n)).collect();
    let limit = u64::from(u16::from_be_bytes([*high, *low]));
    let (whole, cut) = frame_cap_verdicts(stream, &pieces, limit, flags & 1 == 1);
    assert_eq!(
        whole, cut,
        "the cap's verdict depends on how the bytes are cut"
    );

    let mut parts = stream.split(|&b| b == 0);
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return;
    };
    let mut request = http::Request::builder().method(method).uri(format!(
        "https://localhost{}",
        String::from_utf8_lossy(target)
    ));
    while let (Some(name), Some(value)) = (parts.next(), parts.next()) {
        request = request.header(name, value);
    }
    let Ok(request) = request.body(()) else {
        return;
    };
    if let Some(status) = read_stream_head(&request.into_parts().0) {
        assert!((400..500).contains(&status), "refused with {status}");
    }
});
