//! The parsers of the option values clap does not know: each refuses what the
//! server cannot run with, and says why.

use std::time::Duration;

use crate::server::Retry;

/// The largest `--timer-slack`.
const MAX_TIMER_SLACK: Duration = Duration::from_millis(100);

/// Parses `--quic-retry`.
pub(super) fn quic_retry(value: &str) -> Result<Retry, String> {
    match value {
        "always" => Ok(Retry::Always),
        "under-load" => Ok(Retry::UnderLoad),
        _ => Err("expected always or under-load".to_owned()),
    }
}

/// The smallest and largest `--max-head-size`.
const HEAD_SIZE_RANGE: std::ops::RangeInclusive<usize> = 256..=1024 * 1024;

/// Parses a head size limit within [`HEAD_SIZE_RANGE`].
pub(super) fn head_size(text: &str) -> Result<usize, String> {
    let size: usize = text.parse().map_err(|e| format!("{e}"))?;
    if !HEAD_SIZE_RANGE.contains(&size) {
        let (min, max) = HEAD_SIZE_RANGE.into_inner();
        return Err(format!("must be from {min} to {max} bytes"));
    }
    Ok(size)
}

/// Parses a timer slack of at most [`MAX_TIMER_SLACK`].
pub(super) fn timer_slack(text: &str) -> Result<humantime::Duration, String> {
    let slack: humantime::Duration = text.parse().map_err(|e| format!("{e}"))?;
    if *slack > MAX_TIMER_SLACK {
        return Err("must be at most 100ms".to_string());
    }
    Ok(slack)
}

/// Parses a duration that must be longer than zero.
pub(super) fn positive_duration(text: &str) -> Result<humantime::Duration, String> {
    let duration: humantime::Duration = text.parse().map_err(|e| format!("{e}"))?;
    if duration.is_zero() {
        return Err("must be longer than 0".to_string());
    }
    Ok(duration)
}

/// A file mode in octal, such as `660`.
pub(super) fn octal_mode(text: &str) -> Result<u32, String> {
    match u32::from_str_radix(text, 8) {
        Ok(mode) if mode <= 0o777 => Ok(mode),
        _ => Err("expected permissions in octal, 000 to 777, such as 660".to_owned()),
    }
}
