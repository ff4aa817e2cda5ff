//! Futures that only work on memory (async-h1's decoder, a body held in memory).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// Polls once a future that only works on memory (async-h1's decoder, a body held in
/// memory), so it finishes without waiting; `None` if it did wait. Polling in place
/// rather than awaiting keeps the future's state on the stack for the call, not in
/// every connection's task for the connection's life.
pub fn finish_in_memory<F: Future>(future: F) -> Option<F::Output> {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}
