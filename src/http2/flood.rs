//! When a connection abuses HTTP/2: frames that ask for work and carry none, more
//! than any client needs, counted against the streams the client opened and the
//! answers it got. h2 ends some floods itself (a CONTINUATION flood, resets of
//! streams not yet taken up, a DATA frame flood); these limits cover the rest.
//! A connection over a limit gets GOAWAY(ENHANCE_YOUR_CALM), and is counted.

use std::sync::atomic::Ordering::Relaxed;

use super::io::FrameCounts;
use crate::metrics::Flood;

/// Frames of each kind a connection may send before it has opened any stream.
const FREE_FRAMES: u32 = 100;
/// Frames that carry nothing a connection may send beside the free ones, per stream
/// it opened (WINDOW_UPDATE, PRIORITY and empty DATA).
const CONTROL_PER_STREAM: u32 = 10;
/// Streams past the concurrency limit (refused by h2), or whose header block was
/// too large, a connection may open before it is ended.
const FREE_REFUSED_STREAMS: u32 = 100;

/// What a connection has done, besides its frames.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    /// Streams h2 handed to the server.
    pub accepted: u32,
    /// Streams the server answered.
    pub answered: u32,
    /// The server's writes wait on the client: streams answered but not yet
    /// written out still count against h2's concurrency limit.
    pub writes_stalled: bool,
}

/// The flood the connection is in, if any.
pub fn detect(counts: &FrameCounts, progress: Progress, max_streams: u32) -> Option<Flood> {
    let opened = counts.streams_opened.load(Relaxed);
    let allowance = |per_stream: u32| FREE_FRAMES.saturating_add(opened.saturating_mul(per_stream));
    if counts.resets.load(Relaxed) > FREE_FRAMES.saturating_add(progress.answered) {
        return Some(Flood::RapidReset);
    }
    if counts.settings.load(Relaxed) > allowance(1) {
        return Some(Flood::Settings);
    }
    if counts.pings.load(Relaxed) > allowance(1) {
        return Some(Flood::Ping);
    }
    if counts.control.load(Relaxed) > allowance(CONTROL_PER_STREAM) {
        return Some(Flood::Control);
    }
    // Streams the client opened that never reached the server, beyond those h2
    // may still hold: refused for concurrency, or for their header list's size.
    let not_accepted = opened.saturating_sub(progress.accepted);
    if not_accepted > max_streams.saturating_add(FREE_REFUSED_STREAMS) {
        // h2 holds a stream until its answer is written, and it writes only when
        // it has nothing left to read: a client that keeps sending once it has had
        // a full window of streams taken up may be refused for concurrency with
        // none of them open here and no write stalled yet.
        let at_limit = progress.writes_stalled || progress.accepted >= max_streams;
        return Some(match at_limit {
            true => Flood::TooManyStreams,
            false => Flood::HpackBomb,
        });
    }
    None
}

/// Which flood h2 ended a connection for itself (with ENHANCE_YOUR_CALM), from
/// what the connection saw: a header block left open (too many CONTINUATION
/// frames), streams refused for concurrency (too many local resets), resets of
/// streams not taken up yet (rapid reset), streams refused for their header list
/// (an HPACK bomb), or else small frames (its DATA frame budget).
pub fn caught_by_h2(
    counts: &FrameCounts,
    progress: Progress,
    header_block_open: bool,
    max_streams: u32,
) -> Flood {
    let not_accepted = (counts.streams_opened.load(Relaxed)).saturating_sub(progress.accepted);
    if header_block_open {
        Flood::Continuation
    } else if not_accepted > max_streams {
        Flood::TooManyStreams
    } else if counts.resets.load(Relaxed) > progress.answered {
        Flood::RapidReset
    } else if not_accepted > 0 {
        // Streams h2 refused below the concurrency limit: their header lists
        // decoded to more than the limit.
        Flood::HpackBomb
    } else {
        Flood::Control
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(accepted: u32, answered: u32) -> Progress {
        Progress {
            accepted,
            answered,
            writes_stalled: false,
        }
    }

    #[test]
    fn a_busy_client_is_no_flood() {
        // A browser: 60 streams, a few SETTINGS, PINGs and WINDOW_UPDATEs, and a
        // navigation that cancels 60 fetches.
        let busy = FrameCounts::of(60, 60, 3, 5, 120);
        assert_eq!(detect(&busy, progress(60, 0), 128), None);
    }

    #[test]
    fn each_flood_is_named() {
        let none = progress(1000, 0);
        assert_eq!(
            detect(&FrameCounts::of(1000, 1000, 1, 1, 0), none, 128),
            Some(Flood::RapidReset)
        );
        assert_eq!(
            detect(&FrameCounts::of(0, 0, 101, 0, 0), none, 128),
            Some(Flood::Settings)
        );
        assert_eq!(
            detect(&FrameCounts::of(0, 0, 0, 101, 0), none, 128),
            Some(Flood::Ping)
        );
        assert_eq!(
            detect(&FrameCounts::of(1, 0, 0, 0, 111), none, 128),
            Some(Flood::Control)
        );
        let refused = FrameCounts::of(1000, 0, 0, 0, 0);
        assert_eq!(
            detect(&refused, progress(128, 0), 128),
            Some(Flood::TooManyStreams)
        );
        assert_eq!(
            detect(&refused, progress(10, 10), 128),
            Some(Flood::HpackBomb)
        );
        // Answered, but held in h2 behind a stalled write: still at the limit.
        let stalled = Progress {
            writes_stalled: true,
            ..progress(300, 300)
        };
        assert_eq!(detect(&refused, stalled, 128), Some(Flood::TooManyStreams));
        // Answered, and held in h2 while it reads on: still at the limit.
        assert_eq!(
            detect(&refused, progress(300, 300), 128),
            Some(Flood::TooManyStreams)
        );
        // Answers earn resets: a client that cancels what it was answered is fine.
        assert_eq!(
            detect(
                &FrameCounts::of(1000, 1000, 1, 1, 0),
                progress(1000, 950),
                128
            ),
            None
        );
    }
}
