//! SIGINT and SIGTERM: the first starts a graceful shutdown, the second exits at
//! once. SIGHUP: reload (the TLS certificate).

use std::io;
use std::thread;

use async_signal::{Signal, Signals};
use log::{info, warn};
use smol::stream::StreamExt;

use crate::shutdown::Shutdown;

/// Starts a thread that triggers `shutdown` on the first SIGINT or SIGTERM and ends
/// the process, with status 128 + the signal number, on the second; it calls
/// `on_hangup` on every SIGHUP.
pub fn handle_signals(shutdown: Shutdown, on_hangup: impl Fn() + Send + 'static) -> io::Result<()> {
    let mut signals = Signals::new([Signal::Int, Signal::Term, Signal::Hup])?;
    thread::Builder::new()
        .name("smol-toy-signals".to_string())
        .spawn(move || {
            smol::block_on(async {
                while let Some(signal) = signals.next().await {
                    match signal {
                        Ok(Signal::Hup) => on_hangup(),
                        signal if !shutdown.is_triggered() => {
                            info!(
                                "{}: shutting down gracefully (again to exit at once)",
                                name(&signal)
                            );
                            shutdown.trigger();
                        }
                        signal => {
                            let number = signal.as_ref().map_or(0, |signal| *signal as i32);
                            warn!("{}: exiting at once", name(&signal));
                            crate::logging::flush();
                            std::process::exit(128 + number);
                        }
                    }
                }
            })
        })?;
    Ok(())
}

fn name(signal: &io::Result<Signal>) -> &'static str {
    match signal {
        Ok(Signal::Int) => "SIGINT",
        Ok(Signal::Term) => "SIGTERM",
        _ => "signal",
    }
}
