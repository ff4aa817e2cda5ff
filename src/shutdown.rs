//! The shutdown signal shared by the accept loop and every connection, and a wait
//! that ends early at the shutdown.

use pin_project_lite::pin_project;
use smol::channel::{Receiver, Recv, Sender};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A one-way switch from "serving" to "shutting down" that any number of tasks can
/// await. Clones share the switch.
///
/// It is built on a channel nobody sends on: closing it wakes every receiver at once.
#[derive(Debug, Clone)]
pub struct Shutdown {
    sender: Sender<()>,
    receiver: Receiver<()>,
}

impl Shutdown {
    /// Creates a switch in the "serving" position.
    pub fn new() -> Self {
        let (sender, receiver) = smol::channel::bounded(1);
        Shutdown { sender, receiver }
    }

    /// Starts the shutdown. Calling it again does nothing.
    pub fn trigger(&self) {
        self.sender.close();
    }

    /// Whether the shutdown has started.
    pub fn is_triggered(&self) -> bool {
        self.sender.is_closed()
    }

    /// Resolves once the shutdown has started.
    pub async fn triggered(&self) {
        // The channel never carries a message, so `recv` returns only once it is closed.
        let _ = self.receiver.recv().await;
    }

    /// Runs `future` until the shutdown starts: its output, or `None` if the
    /// shutdown came first. `future` is polled first, so an output that is ready wins.
    pub fn until_triggered<F: Future>(&self, future: F) -> UntilTriggered<'_, F> {
        UntilTriggered {
            future,
            triggered: self.receiver.recv(),
        }
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

// A named future rather than an `async fn`: an `async fn` that awaits a future it
// takes as an argument holds it twice, and this one wraps every read of every
// connection.
pin_project! {
    /// The future of [`Shutdown::until_triggered`].
    pub struct UntilTriggered<'a, F> {
        #[pin]
        future: F,
        #[pin]
        triggered: Recv<'a, ()>,
    }
}

impl<F: Future> Future for UntilTriggered<'_, F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Some(output));
        }
        // The channel never carries a message, so `recv` ends only once it is closed.
        this.triggered.poll(cx).map(|_| None)
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use smol::future::FutureExt;

    #[test]
    fn every_clone_sees_the_trigger() {
        let shutdown = Shutdown::new();
        let clone = shutdown.clone();
        assert!(!clone.is_triggered());
        let seen = smol::block_on(
            async {
                clone.triggered().await;
                true
            }
            .or(async { false }),
        );
        assert!(!seen, "triggered() resolved before trigger()");
        shutdown.trigger();
        assert!(clone.is_triggered());
        smol::block_on(clone.triggered());
    }

    #[test]
    fn until_triggered_ends_a_wait_but_lets_a_ready_output_win() {
        let shutdown = Shutdown::new();
        shutdown.trigger();
        let waited = smol::block_on(shutdown.until_triggered(std::future::pending::<()>()));
        assert_eq!(waited, None);
        assert_eq!(
            smol::block_on(shutdown.until_triggered(async { 7 })),
            Some(7)
        );
    }
}
