//! Telling systemd how the server is doing (`Type=notify`, sd_notify(3)): `READY=1`
//! once it listens, `STOPPING=1` when a shutdown starts, `STATUS=` lines that
//! `systemctl status` shows, and, when the unit sets `WatchdogSec=`, `WATCHDOG=1` at
//! half that interval from a task on the executor, so that a wedged executor stops
//! pinging and systemd restarts it. Without `NOTIFY_SOCKET` every call does nothing.

use std::time::Duration;

use async_io::Timer;
use log::warn;
use sd_notify::NotifyState;

/// Sends `states`; a failure is logged, never fatal: the server runs without systemd.
fn notify(states: &[NotifyState<'_>]) {
    if let Err(error) = sd_notify::notify(states) {
        warn!("cannot notify systemd ({states:?}): {error}");
    }
}

/// The server listens and serves.
pub fn ready(status: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// The shutdown has started.
pub fn stopping(status: &str) {
    notify(&[NotifyState::Stopping, NotifyState::Status(status)]);
}

/// A line for `systemctl status`.
pub fn status(status: &str) {
    notify(&[NotifyState::Status(status)]);
}

/// The watchdog interval systemd asks for (`WATCHDOG_USEC`, for this process).
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().filter(|interval| !interval.is_zero())
}

/// Pings the watchdog every half `interval`, for as long as the executor runs it.
pub async fn keep_watchdog_fed(interval: Duration) {
    loop {
        notify(&[NotifyState::Watchdog]);
        Timer::after(interval / 2).await;
    }
}
