//! SIGINT and SIGTERM: the first starts a graceful shutdown, the second exits at once.

use std::io;
use std::thread;

use async_signal::{Signal, Signals};
use log::{info, warn};
use smol::stream::StreamExt;

use crate::shutdown::Shutdown;

/// Starts a thread that triggers `shutdown` on the first SIGINT or SIGTERM and ends
/// the process, with status 128 + the signal number, on the second.
pub fn handle_signals(shutdown: Shutdown) -> io::Result<()> {
    let mut signals = Signals::new([Signal::Int, Signal::Term])?;
    thread::Builder::new()
        .name("smol-toy-signals".to_string())
        .spawn(move || {
            smol::block_on(async {
                if let Some(signal) = signals.next().await {
                    info!(
                        "{}: shutting down gracefully (again to exit at once)",
                        name(signal)
                    );
                    shutdown.trigger();
                }
                if let Some(signal) = signals.next().await {
                    let number = match signal {
                        Ok(signal) => signal as i32,
                        Err(_) => 0,
                    };
                    warn!("{}: exiting at once", name(signal));
                    std::process::exit(128 + number);
                }
            })
        })?;
    Ok(())
}

fn name(signal: io::Result<Signal>) -> &'static str {
    match signal {
        Ok(Signal::Int) => "SIGINT",
        Ok(Signal::Term) => "SIGTERM",
        _ => "signal",
    }
}
