//! The shutdown signal shared by the accept loop and every connection.

use smol::channel::{Receiver, Sender};

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
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
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
}
