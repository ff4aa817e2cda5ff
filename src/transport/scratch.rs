//! Reads through a buffer of the thread's, so that a connection that waits holds
//! no read buffer of its own: what arrives is copied onto the end of the buffer
//! that keeps it (a TLS session's records, the first bytes a protocol is chosen
//! by), or dropped.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use smol::io::AsyncRead;

/// How much is asked of a stream in one read: a whole TLS record of the largest
/// size (16 KiB of plaintext, and what encryption adds).
const READ_SIZE: usize = 16 * 1024 + 256;

thread_local! {
    /// What a read lands in, per thread, before the bytes are copied to where they
    /// are kept, which then holds just them.
    static READ_SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_SIZE].into_boxed_slice());
}

/// Reads what has arrived on `stream`, through the thread's scratch buffer, onto
/// the end of `out` (or nowhere, for `None`); how many bytes came, 0 at its end.
pub fn poll_read_onto<S: AsyncRead + Unpin>(
    stream: &mut S,
    cx: &mut Context<'_>,
    out: Option<&mut Vec<u8>>,
) -> Poll<io::Result<usize>> {
    READ_SCRATCH.with_borrow_mut(|scratch| {
        let n = ready!(Pin::new(stream).poll_read(cx, scratch))?;
        if let Some(out) = out {
            out.extend_from_slice(&scratch[..n]);
        }
        Poll::Ready(Ok(n))
    })
}

/// Waits for the next bytes `stream` sends, and appends them to `out`: how many,
/// 0 at its end.
pub async fn read_onto<S: AsyncRead + Unpin>(
    stream: &mut S,
    out: &mut Vec<u8>,
) -> io::Result<usize> {
    poll_fn(|cx| poll_read_onto(stream, cx, Some(out))).await
}
