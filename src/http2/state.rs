//! An HTTP/2 connection's state: its deadlines, whether it is idle, when it ends
//! and why (GOAWAY at shutdown or when idle, a flood, a timeout, h2's own
//! errors), and when the client's end of its side is handed to h2. Every such
//! decision is made here, by the methods below, from what the connection has
//! counted and the watched stream has seen; the state changes only through them,
//! and the connection loop only does what they say.

use std::time::Instant;

use h2::Reason;

use super::flood::{self, Progress};
use super::io::FrameCounts;
use crate::connection::CloseReason;
use crate::metrics::Flood;
use crate::shared::{LINGER_TIMEOUT, Limits};
use crate::streams::stream::StreamEnd;

/// One connection's state.
#[derive(Debug)]
pub struct State<'l> {
    limits: &'l Limits,
    started: Instant,
    /// Streams taken up, and answered.
    progress: Progress,
    /// Since when no stream has been open.
    idle_since: Instant,
    /// The connection was told to go (GOAWAY), and why it will have ended.
    going_away: Option<CloseReason>,
    /// When a connection that is going, with no stream left, is dropped.
    linger_until: Option<Instant>,
}

/// What the watched stream has seen that starts a deadline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seen {
    /// Since when a write has waited for the client to take bytes.
    pub write_stalled_since: Option<Instant>,
    /// Since when a header block has been open (HEADERS without END_HEADERS).
    pub header_block_open_since: Option<Instant>,
}

/// Which deadline the connection waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// The first request's header block (and the preface's SETTINGS), or a header
    /// block left open.
    Header,
    /// No stream for the keep-alive timeout.
    Idle,
    /// A write the peer has not taken for the write timeout.
    Write,
    /// A connection that is going has had its last chance to close.
    Linger,
}

/// What the connection is to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing: it goes on.
    Continue,
    /// Tell the client to open no more streams (GOAWAY with NO_ERROR); the
    /// streams in flight finish, then the connection closes.
    GoAway,
    /// Drop every stream and send GOAWAY with this code; the frame has
    /// `LINGER_TIMEOUT` to go out.
    Abrupt(Reason),
    /// The connection has ended, for this reason.
    End(CloseReason),
}

/// How h2 said the connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// Cleanly: the client closed it, or it closed after a GOAWAY.
    Cleanly,
    /// The client went away, or reset the connection with an error of its own.
    ByClient,
    /// h2 ended it with GOAWAY(reason) for what the client sent.
    GoAwaySent(Reason),
    /// Another error.
    Failed,
}

/// Why the connection ended, once h2 says it has, and what to count for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    pub reason: CloseReason,
    /// The GOAWAY h2 sent itself, to count.
    pub goaway: Option<Reason>,
    /// The flood h2 ended the connection for itself, to count.
    pub flood: Option<Flood>,
}

impl<'l> State<'l> {
    /// A connection that started at `started`, under `limits`.
    pub fn new(limits: &'l Limits, started: Instant) -> Self {
        State {
            limits,
            started,
            progress: Progress::default(),
            idle_since: started,
            going_away: None,
            linger_until: None,
        }
    }

    /// Whether the connection has been told to go.
    pub fn is_going(&self) -> bool {
        self.going_away.is_some()
    }

    /// Streams taken up so far.
    pub fn streams_taken(&self) -> u32 {
        self.progress.accepted
    }

    /// A stream was taken up.
    pub fn stream_taken(&mut self) {
        self.progress.accepted += 1;
    }

    /// A stream's answer ended thus. A client that gave an answer no room for the
    /// write timeout ends the connection.
    pub fn stream_ended(&mut self, end: StreamEnd) -> Action {
        match end {
            StreamEnd::Answered => self.progress.answered += 1,
            StreamEnd::WriteStalled => return Action::End(CloseReason::WriteTimeout),
            StreamEnd::Reset | StreamEnd::Gone => {}
        }
        Action::Continue
    }

    /// The connection has dealt with what it waited for, and has `open` streams
    /// being answered at `now`: once none is, it is idle from now, and one that is
    /// going has `LINGER_TIMEOUT` left to close.
    pub fn settled(&mut self, open: usize, now: Instant) {
        if open == 0 && self.linger_until.is_none() {
            self.idle_since = now;
            if self.going_away.is_some() {
                self.linger_until = Some(now + LINGER_TIMEOUT);
            }
        }
    }

    /// The next deadline, and what it is, with `open` streams being answered and
    /// what the stream has `seen`; `None` while streams are open and nothing is late.
    pub fn deadline(&self, open: usize, seen: Seen) -> Option<(Instant, Expiry)> {
        let limits = self.limits;
        let mut next: Option<(Instant, Expiry)> = None;
        let mut consider = |at: Instant, expiry| {
            if next.is_none_or(|(first, _)| at < first) {
                next = Some((at, expiry));
            }
        };
        if let Some(since) = seen.write_stalled_since {
            consider(since + limits.write_timeout, Expiry::Write);
        }
        if let Some(linger_until) = self.linger_until {
            consider(linger_until, Expiry::Linger);
        }
        if self.going_away.is_none() {
            if let Some(since) = seen.header_block_open_since {
                consider(since + limits.header_timeout, Expiry::Header);
            }
            if open == 0 && self.progress.accepted == 0 {
                consider(self.started + limits.header_timeout, Expiry::Header);
            } else if open == 0 {
                consider(self.idle_since + limits.keep_alive_timeout, Expiry::Idle);
            }
        }
        next
    }

    /// A deadline passed, at `now`.
    pub fn expired(&mut self, expiry: Expiry, now: Instant) -> Action {
        match expiry {
            Expiry::Write => Action::End(CloseReason::WriteTimeout),
            Expiry::Linger => Action::End(self.going_away.unwrap_or(CloseReason::Error)),
            Expiry::Header => self.abrupt(Reason::NO_ERROR, CloseReason::HeaderTimeout, now),
            Expiry::Idle => self.go_away(CloseReason::IdleTimeout),
        }
    }

    /// A shutdown was asked for.
    pub fn shutdown_asked(&mut self) -> Action {
        self.go_away(CloseReason::Shutdown)
    }

    /// The flood the client is in, from the frames it sent and what the stream has
    /// seen, unless the connection is going already.
    pub fn flood(&self, counts: &FrameCounts, seen: Seen) -> Option<Flood> {
        let progress = Progress {
            writes_stalled: seen.write_stalled_since.is_some(),
            ..self.progress
        };
        let max_streams = self.limits.max_concurrent_streams;
        (self.going_away.is_none())
            .then(|| flood::detect(counts, progress, max_streams))
            .flatten()
    }

    /// The client is flooding the connection, at `now`: it ends with
    /// GOAWAY(ENHANCE_YOUR_CALM).
    pub fn flooded(&mut self, now: Instant) -> Action {
        self.abrupt(Reason::ENHANCE_YOUR_CALM, CloseReason::Error, now)
    }

    /// Why the connection ended, now that h2 says it has thus; `counts` and
    /// `seen` tell which flood h2 ended it for, if it did.
    pub fn closed(&self, closed: Closed, counts: &FrameCounts, seen: Seen) -> Ended {
        let after_goaway = self.going_away.unwrap_or(CloseReason::ClientClosed);
        let (reason, goaway) = match closed {
            Closed::Cleanly | Closed::ByClient => (after_goaway, None),
            Closed::GoAwaySent(reason) => (CloseReason::Error, Some(reason)),
            Closed::Failed => (CloseReason::Error, None),
        };
        let flood = (goaway == Some(Reason::ENHANCE_YOUR_CALM)).then(|| {
            let block_open = seen.header_block_open_since.is_some();
            let max_streams = self.limits.max_concurrent_streams;
            flood::caught_by_h2(counts, self.progress, block_open, max_streams)
        });
        Ended {
            reason,
            goaway,
            flood,
        }
    }

    /// Tells the client to go gracefully, unless it was told already.
    fn go_away(&mut self, reason: CloseReason) -> Action {
        if self.going_away.is_some() {
            return Action::Continue;
        }
        self.going_away = Some(reason);
        Action::GoAway
    }

    /// Ends the connection with GOAWAY(`code`), whatever its streams.
    fn abrupt(&mut self, code: Reason, reason: CloseReason, now: Instant) -> Action {
        self.going_away = Some(reason);
        self.linger_until = Some(now + LINGER_TIMEOUT);
        Action::Abrupt(code)
    }
}

/// When the client's end of its side (a read of 0 bytes) is handed to h2.
///
/// h2 ends the connection when its read ends, and drops what it has not yet
/// written; a client that closes its side after its requests (a half-close, as
/// `nc -N` makes) waits for their answers, which HTTP/1 gives it too. So the end
/// is held back, and given once a whole round of h2's writing has passed with no
/// stream being answered or taken up, nothing written, and the flush done.
/// Streams that wait for the client alone (the rest of a body, room in a window)
/// are not waited for: h2 drops them at the end.
#[derive(Debug, Default)]
pub struct ClientEnd {
    /// When h2 last found the end held back: the streams taken up, if none was
    /// being answered.
    held_idle_after: Option<u32>,
    /// Since then: whether h2 wrote bytes, and whether a flush went through.
    wrote_since_held: bool,
    flushed_since_held: bool,
}

/// What to do with a read, once the client has ended its side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndRead {
    /// Hand h2 the end.
    Give,
    /// Hold it back; `wake`: ask h2 to come round again at once, since nothing
    /// else will wake the connection (no stream's answer, no stalled write).
    Hold { wake: bool },
}

impl ClientEnd {
    /// h2 reads after the client's end, with `idle_after` the streams taken up if
    /// none is being answered now, and a write stalled or not.
    pub fn read(&mut self, idle_after: Option<u32>, write_stalled: bool) -> EndRead {
        let quiet = self.flushed_since_held && !self.wrote_since_held;
        if quiet && idle_after.is_some() && idle_after == self.held_idle_after {
            return EndRead::Give;
        }
        self.held_idle_after = idle_after;
        self.wrote_since_held = false;
        self.flushed_since_held = false;
        EndRead::Hold {
            wake: idle_after.is_some() && !write_stalled,
        }
    }

    /// h2 wrote `bytes` bytes.
    pub fn wrote(&mut self, bytes: usize) {
        self.wrote_since_held |= bytes > 0;
    }

    /// A flush of h2's went through.
    pub fn flushed(&mut self) {
        self.flushed_since_held = true;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::testing::default_limits;

    const NOTHING_SEEN: Seen = Seen {
        write_stalled_since: None,
        header_block_open_since: None,
    };

    /// Takes up a stream and answers it.
    fn answer_one(state: &mut State<'_>, now: Instant) {
        state.stream_taken();
        state.settled(1, now);
        assert_eq!(state.stream_ended(StreamEnd::Answered), Action::Continue);
        state.settled(0, now);
    }

    #[test]
    fn a_new_connection_waits_for_its_first_request_for_the_header_timeout() {
        let limits = default_limits();
        let start = Instant::now();
        let mut state = State::new(&limits, start);
        let deadline = state.deadline(0, NOTHING_SEEN);
        assert_eq!(
            deadline,
            Some((start + limits.header_timeout, Expiry::Header))
        );
        let action = state.expired(Expiry::Header, start + limits.header_timeout);
        assert_eq!(action, Action::Abrupt(Reason::NO_ERROR));
        let (at, expiry) = state.deadline(0, NOTHING_SEEN).unwrap();
        assert_eq!(expiry, Expiry::Linger);
        assert_eq!(
            state.expired(expiry, at),
            Action::End(CloseReason::HeaderTimeout)
        );
    }

    #[test]
    fn an_idle_connection_goes_away_at_the_keep_alive_timeout() {
        let limits = default_limits();
        let start = Instant::now();
        let mut state = State::new(&limits, start);
        let answered = start + Duration::from_millis(10);
        answer_one(&mut state, answered);
        assert_eq!(state.deadline(1, NOTHING_SEEN), None, "a stream is open");
        let (at, expiry) = state.deadline(0, NOTHING_SEEN).unwrap();
        assert_eq!(
            (at, expiry),
            (answered + limits.keep_alive_timeout, Expiry::Idle)
        );
        assert_eq!(state.expired(expiry, at), Action::GoAway);
        // GOAWAY sent: no more idle or header deadline, only the linger once settled.
        assert_eq!(state.deadline(0, NOTHING_SEEN), None);
        state.settled(0, at);
        let (linger, expiry) = state.deadline(0, NOTHING_SEEN).unwrap();
        assert_eq!((linger, expiry), (at + LINGER_TIMEOUT, Expiry::Linger));
        assert_eq!(
            state.expired(expiry, linger),
            Action::End(CloseReason::IdleTimeout)
        );
        // The client may close first, on GOAWAY: still the idle timeout's end.
        let ended = state.closed(Closed::Cleanly, &FrameCounts::default(), NOTHING_SEEN);
        assert_eq!(ended.reason, CloseReason::IdleTimeout);
    }

    #[test]
    fn shutdown_sends_goaway_once_and_lets_the_streams_finish() {
        let limits = default_limits();
        let now = Instant::now();
        let mut state = State::new(&limits, now);
        state.stream_taken();
        assert_eq!(state.shutdown_asked(), Action::GoAway);
        assert_eq!(
            state.shutdown_asked(),
            Action::Continue,
            "GOAWAY is sent once"
        );
        state.settled(1, now);
        assert_eq!(state.deadline(1, NOTHING_SEEN), None, "the stream finishes");
        state.stream_ended(StreamEnd::Answered);
        state.settled(0, now);
        assert_eq!(
            state.deadline(0, NOTHING_SEEN),
            Some((now + LINGER_TIMEOUT, Expiry::Linger))
        );
        let ended = state.closed(Closed::Cleanly, &FrameCounts::default(), NOTHING_SEEN);
        assert_eq!(ended.reason, CloseReason::Shutdown);
        assert_eq!((ended.goaway, ended.flood), (None, None));
    }

    #[test]
    fn each_flood_ends_the_connection_with_enhance_your_calm() {
        let limits = default_limits();
        let max = limits.max_concurrent_streams;
        let floods = [
            (
                FrameCounts::of(1000, 1000, 1, 1, 0),
                1000,
                Flood::RapidReset,
            ),
            (FrameCounts::of(0, 0, 101, 0, 0), 0, Flood::Settings),
            (FrameCounts::of(0, 0, 0, 101, 0), 0, Flood::Ping),
            (FrameCounts::of(1, 0, 0, 0, 111), 1, Flood::Control),
            (
                FrameCounts::of(max + 1000, 0, 0, 0, 0),
                max,
                Flood::TooManyStreams,
            ),
            (FrameCounts::of(1000, 0, 0, 0, 0), 10, Flood::HpackBomb),
        ];
        for (counts, taken, flood) in floods {
            let now = Instant::now();
            let mut state = State::new(&limits, now);
            (0..taken).for_each(|_| state.stream_taken());
            assert_eq!(state.flood(&counts, NOTHING_SEEN), Some(flood));
            assert_eq!(
                state.flooded(now),
                Action::Abrupt(Reason::ENHANCE_YOUR_CALM)
            );
            assert_eq!(state.flood(&counts, NOTHING_SEEN), None, "told once");
            let (at, expiry) = state.deadline(5, NOTHING_SEEN).unwrap();
            assert_eq!(state.expired(expiry, at), Action::End(CloseReason::Error));
        }
        // A shut window, for the write timeout: the connection ends.
        let mut state = State::new(&limits, Instant::now());
        assert_eq!(
            state.stream_ended(StreamEnd::WriteStalled),
            Action::End(CloseReason::WriteTimeout)
        );
        let stalled = Seen {
            write_stalled_since: Some(Instant::now()),
            ..NOTHING_SEEN
        };
        let (_, expiry) = state.deadline(1, stalled).unwrap();
        assert_eq!(expiry, Expiry::Write);
        // A flood h2 ended itself: a header block left open is a CONTINUATION flood.
        let open_block = Seen {
            header_block_open_since: Some(Instant::now()),
            ..NOTHING_SEEN
        };
        let ended = state.closed(
            Closed::GoAwaySent(Reason::ENHANCE_YOUR_CALM),
            &FrameCounts::of(1, 0, 0, 0, 0),
            open_block,
        );
        assert_eq!(ended.reason, CloseReason::Error);
        assert_eq!(ended.goaway, Some(Reason::ENHANCE_YOUR_CALM));
        assert_eq!(ended.flood, Some(Flood::Continuation));
    }

    #[test]
    fn a_header_block_left_open_is_cut_at_the_header_timeout() {
        let limits = default_limits();
        let now = Instant::now();
        let mut state = State::new(&limits, now);
        answer_one(&mut state, now);
        let opened = now + Duration::from_secs(1);
        let seen = Seen {
            header_block_open_since: Some(opened),
            ..NOTHING_SEEN
        };
        assert_eq!(
            state.deadline(1, seen),
            Some((opened + limits.header_timeout, Expiry::Header))
        );
    }

    #[test]
    fn the_clients_end_waits_for_the_streams_in_flight() {
        let mut end = ClientEnd::default();
        // Two streams taken up, one still being answered: held, and nothing to wake.
        assert_eq!(end.read(None, false), EndRead::Hold { wake: false });
        assert_eq!(end.read(None, false), EndRead::Hold { wake: false });
        // Answered: held once more, for h2 to write the answer.
        assert_eq!(end.read(Some(2), false), EndRead::Hold { wake: true });
        end.wrote(120);
        end.flushed();
        assert_eq!(end.read(Some(2), false), EndRead::Hold { wake: true });
        // A round with nothing written and the flush done: the end is given.
        end.wrote(0);
        end.flushed();
        assert_eq!(end.read(Some(2), false), EndRead::Give);
    }

    #[test]
    fn the_clients_end_waits_for_a_new_stream_and_a_stalled_write() {
        let mut end = ClientEnd::default();
        assert_eq!(end.read(Some(1), false), EndRead::Hold { wake: true });
        end.flushed();
        // h2 took up one more stream, read before the end: held again.
        assert_eq!(end.read(Some(2), false), EndRead::Hold { wake: true });
        // A stalled write wakes the connection itself when the socket takes bytes.
        assert_eq!(end.read(Some(2), true), EndRead::Hold { wake: false });
        assert_eq!(
            end.read(Some(2), true),
            EndRead::Hold { wake: false },
            "no flush"
        );
    }
}
