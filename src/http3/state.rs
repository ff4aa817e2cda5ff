//! What an HTTP/3 connection decides, apart from the QUIC and h3 machinery it
//! drives: when it is idle, when it sends GOAWAY, when it ends and why. The loop
//! in `conn.rs` does what this says; each decision is a method, tested here
//! without a socket.

use std::time::Instant;

use h3::error::{Code, ConnectionError, LocalError};
use h3::quic::ConnectionErrorIncoming;

use crate::connection::CloseReason;
use crate::metrics::Http3Attack;
use crate::shared::Limits;
use crate::streams::stream::StreamEnd;

/// Resets a connection may send beyond one per stream answered: a client that
/// cancels what it asked for, now and then, is fine; one that opens streams only
/// to reset them (CVE-2023-44487) makes work the server never gets to finish.
const FREE_RESETS: u32 = 100;

/// The state of one HTTP/3 connection.
#[derive(Debug)]
pub struct State<'a> {
    limits: &'a Limits,
    /// Since when no stream has been open (from the handshake on); `None` while
    /// one is.
    idle_since: Option<Instant>,
    /// GOAWAY has been sent: no stream is taken up after the ones in flight.
    going: Option<CloseReason>,
    /// How many request streams were taken up.
    streams_taken: u64,
    /// Streams answered, and streams the client reset before their answer.
    answered: u32,
    resets: u32,
}

/// A deadline that passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// No stream was open for the keep-alive timeout.
    Idle,
}

/// What the connection does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Carry on.
    Continue,
    /// Send GOAWAY: the streams in flight finish, no new one is taken.
    GoAway,
    /// Close the connection now (with H3_NO_ERROR), for this reason.
    End(CloseReason),
    /// Close the connection now with H3_EXCESSIVE_LOAD, for this attack.
    Excessive(Http3Attack),
}

/// How the connection was found closed, as h3 or quinn reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// The client sent GOAWAY and has no stream left, or closed the connection.
    ByClient,
    /// No packet arrived for QUIC's idle timeout.
    TimedOut,
    /// h3 closed it for the client's error, or quinn for a transport error.
    Failed,
}

/// How h3 says a connection ended: closed thus, or an attack h3 found itself.
pub fn ending(closed: &Result<(), ConnectionError>) -> Result<Closed, Http3Attack> {
    Ok(match closed {
        Ok(()) => Closed::ByClient,
        Err(error) if error.is_h3_no_error() => Closed::ByClient,
        Err(
            ConnectionError::Timeout | ConnectionError::Remote(ConnectionErrorIncoming::Timeout),
        ) => Closed::TimedOut,
        Err(ConnectionError::Remote(_)) => Closed::ByClient,
        // A second control or QPACK stream.
        Err(ConnectionError::Local {
            error:
                LocalError::Application {
                    code: Code::H3_STREAM_CREATION_ERROR,
                    ..
                },
        }) => return Err(Http3Attack::UnidirectionalStreams),
        Err(_) => Closed::Failed,
    })
}

impl<'a> State<'a> {
    /// A connection whose handshake finished at `now`.
    pub fn new(limits: &'a Limits, now: Instant) -> Self {
        State {
            limits,
            idle_since: Some(now),
            going: None,
            streams_taken: 0,
            answered: 0,
            resets: 0,
        }
    }

    /// The next deadline, with `open` streams being read or answered.
    pub fn deadline(&self, open: usize) -> Option<(Instant, Expiry)> {
        if open > 0 || self.going.is_some() {
            return None;
        }
        let idle_since = self.idle_since?;
        Some((idle_since + self.limits.keep_alive_timeout, Expiry::Idle))
    }

    /// After each turn of the loop, with `open` streams being read or answered:
    /// whether the connection is done.
    pub fn settled(&mut self, open: usize, now: Instant) -> Action {
        if open > 0 {
            self.idle_since = None;
            return Action::Continue;
        }
        if let Some(reason) = self.going {
            return Action::End(reason);
        }
        self.idle_since.get_or_insert(now);
        Action::Continue
    }

    /// A request stream was taken up.
    pub fn stream_taken(&mut self) {
        self.streams_taken += 1;
        self.idle_since = None;
    }

    /// Whether GOAWAY has been sent.
    pub fn is_going(&self) -> bool {
        self.going.is_some()
    }

    /// A stream's answer ended thus.
    pub fn stream_ended(&mut self, end: StreamEnd) -> Action {
        match end {
            StreamEnd::WriteStalled => Action::End(CloseReason::WriteTimeout),
            StreamEnd::Reset => self.stream_reset(),
            StreamEnd::Answered => {
                self.answered = self.answered.saturating_add(1);
                Action::Continue
            }
            StreamEnd::Gone => Action::Continue,
        }
    }

    /// The client reset a stream, before its answer or before its HEADERS were
    /// read.
    pub fn stream_reset(&mut self) -> Action {
        self.resets = self.resets.saturating_add(1);
        if self.resets > FREE_RESETS.saturating_add(self.answered) {
            return Action::Excessive(Http3Attack::RapidReset);
        }
        Action::Continue
    }

    /// The transport found `attack`: the connection ends for it.
    pub fn abused(&self, attack: Http3Attack) -> Action {
        Action::Excessive(attack)
    }

    /// A shutdown was asked for: GOAWAY, once.
    pub fn shutdown_asked(&mut self) -> Action {
        self.go_away(CloseReason::Shutdown)
    }

    /// A deadline passed.
    pub fn expired(&mut self, expiry: Expiry) -> Action {
        match expiry {
            Expiry::Idle => {
                self.go_away(CloseReason::IdleTimeout);
                Action::End(CloseReason::IdleTimeout)
            }
        }
    }

    /// Why the connection ended, now that it is closed.
    pub fn closed(&self, closed: Closed) -> CloseReason {
        match closed {
            Closed::ByClient => self.going.unwrap_or(CloseReason::ClientClosed),
            Closed::TimedOut => CloseReason::IdleTimeout,
            Closed::Failed => CloseReason::Error,
        }
    }

    fn go_away(&mut self, reason: CloseReason) -> Action {
        match self.going {
            Some(_) => Action::Continue,
            None => {
                self.going = Some(reason);
                Action::GoAway
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::testing::default_limits;

    #[test]
    fn a_connection_with_no_stream_open_ends_at_the_keep_alive_timeout() {
        let limits = default_limits();
        let start = Instant::now();
        let mut state = State::new(&limits, start);
        let idle = (start + limits.keep_alive_timeout, Expiry::Idle);
        assert_eq!(state.deadline(0), Some(idle), "from the handshake on");
        state.stream_taken();
        assert_eq!(state.settled(1, start), Action::Continue);
        assert_eq!(state.deadline(1), None, "not while a stream is open");
        let later = start + Duration::from_secs(3);
        assert_eq!(state.settled(0, later), Action::Continue);
        let idle = (later + limits.keep_alive_timeout, Expiry::Idle);
        assert_eq!(state.deadline(0), Some(idle), "from the last stream's end");
        assert_eq!(
            state.expired(Expiry::Idle),
            Action::End(CloseReason::IdleTimeout)
        );
    }

    #[test]
    fn shutdown_sends_goaway_once_and_ends_when_the_streams_are_done() {
        let limits = default_limits();
        let start = Instant::now();
        let mut state = State::new(&limits, start);
        state.stream_taken();
        assert_eq!(state.shutdown_asked(), Action::GoAway);
        assert_eq!(state.shutdown_asked(), Action::Continue, "once");
        assert_eq!(
            state.settled(2, start),
            Action::Continue,
            "streams in flight"
        );
        assert_eq!(state.deadline(0), None, "no idle timeout once going");
        assert_eq!(state.settled(0, start), Action::End(CloseReason::Shutdown));
        // A client that closes after the GOAWAY was closed by the shutdown.
        assert_eq!(state.closed(Closed::ByClient), CloseReason::Shutdown);
    }

    #[test]
    fn resets_beyond_the_answers_and_a_hundred_more_are_a_rapid_reset() {
        let limits = default_limits();
        let mut state = State::new(&limits, Instant::now());
        for _ in 0..10 {
            assert_eq!(state.stream_ended(StreamEnd::Answered), Action::Continue);
        }
        for _ in 0..FREE_RESETS + 10 {
            assert_eq!(state.stream_ended(StreamEnd::Reset), Action::Continue);
        }
        let excessive = Action::Excessive(Http3Attack::RapidReset);
        assert_eq!(
            state.stream_reset(),
            excessive,
            "a reset before its HEADERS counts too"
        );
    }

    #[test]
    fn how_h3_says_a_connection_ended_is_read_as_a_close_or_an_attack() {
        let application = |error_code: Code| {
            Err(ConnectionError::Remote(
                ConnectionErrorIncoming::ApplicationClose {
                    error_code: error_code.value(),
                },
            ))
        };
        assert_eq!(ending(&Ok(())), Ok(Closed::ByClient), "the client's GOAWAY");
        assert_eq!(
            ending(&application(Code::H3_NO_ERROR)),
            Ok(Closed::ByClient)
        );
        assert_eq!(
            ending(&application(Code::H3_INTERNAL_ERROR)),
            Ok(Closed::ByClient)
        );
        let idle = Err(ConnectionError::Remote(ConnectionErrorIncoming::Timeout));
        assert_eq!(ending(&idle), Ok(Closed::TimedOut));
        // h3's own errors (LocalError) cannot be made outside h3: a second control
        // stream is tests/http3.rs's.
    }

    #[test]
    fn a_stalled_write_ends_the_connection_and_closes_say_why() {
        let limits = default_limits();
        let mut state = State::new(&limits, Instant::now());
        assert_eq!(
            state.stream_ended(StreamEnd::WriteStalled),
            Action::End(CloseReason::WriteTimeout)
        );
        assert_eq!(state.stream_ended(StreamEnd::Reset), Action::Continue);
        assert_eq!(state.closed(Closed::ByClient), CloseReason::ClientClosed);
        assert_eq!(state.closed(Closed::TimedOut), CloseReason::IdleTimeout);
        assert_eq!(state.closed(Closed::Failed), CloseReason::Error);
    }
}
