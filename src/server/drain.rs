//! The drain: counting the open connections, and waiting for the last one to close
//! once the listener is gone.

use std::time::{Duration, Instant};

use log::{error, info};
use smol::channel::{Receiver, Sender};

use crate::timing_wheel::with_deadline;

/// How a run of the server ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Every connection finished before the shutdown timeout.
    Drained,
    /// The shutdown timeout expired with this many connections still open.
    TimedOut {
        /// Connections that were cut off.
        open: usize,
    },
}

/// The open connections, each holding an [`OpenConnection`] while its task runs.
///
/// It is built on a channel nobody sends on: each connection holds a sender, and
/// `recv` fails once the last one is dropped.
pub struct OpenConnections {
    sender: Sender<()>,
    receiver: Receiver<()>,
}

/// Held by a connection task while it runs; dropping it tells the drain that the
/// connection is gone.
pub struct OpenConnection {
    _sender: Sender<()>,
}

impl OpenConnections {
    /// No connection open yet.
    pub fn new() -> Self {
        let (sender, receiver) = smol::channel::bounded(1);
        OpenConnections { sender, receiver }
    }

    /// Counts one more open connection, until the returned value is dropped.
    pub fn open(&self) -> OpenConnection {
        OpenConnection {
            _sender: self.sender.clone(),
        }
    }

    /// How many connections are open.
    fn count(&self) -> usize {
        self.receiver.sender_count().saturating_sub(1)
    }

    /// Waits until every connection has closed, or `timeout` has passed.
    pub async fn drain(self, timeout: Duration) -> Stopped {
        let waiting = format!(
            "waiting up to {} for {} open connection(s)",
            humantime::format_duration(timeout),
            self.count()
        );
        info!("shutting down: stopped accepting; {waiting}");
        super::notify::status(&format!("shutting down: {waiting}"));
        let OpenConnections { sender, receiver } = self;
        drop(sender);
        let deadline = Instant::now() + timeout;
        let stopped = match with_deadline(deadline, receiver.recv()).await {
            Some(_) => Stopped::Drained,
            None => Stopped::TimedOut {
                open: receiver.sender_count(),
            },
        };
        match stopped {
            Stopped::Drained => info!("all connections closed"),
            Stopped::TimedOut { open } => {
                error!("shutdown timeout expired; cutting off {open} open connection(s)")
            }
        }
        stopped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drain_waits_for_every_connection_or_the_timeout() {
        let open = OpenConnections::new();
        let mut connections: Vec<OpenConnection> = (0..2).map(|_| open.open()).collect();
        assert_eq!(open.count(), 2);
        connections.pop();
        let stuck = smol::block_on(open.drain(Duration::from_millis(20)));
        assert_eq!(stuck, Stopped::TimedOut { open: 1 });
        drop(connections);

        let open = OpenConnections::new();
        let connection = open.open();
        let closer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            drop(connection);
        });
        assert_eq!(
            smol::block_on(open.drain(Duration::from_secs(5))),
            Stopped::Drained
        );
        closer.join().unwrap();
    }
}
