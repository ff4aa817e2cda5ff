//! The connection's state: whether it reads more requests, how long it waits for
//! input, whether it goes on after the answers, and if not, how it ends and why.
//! Every such decision is made here, by the methods below, from what the connection
//! has seen and the server's [`ConnectionRules`] (its timeouts, and whether it is
//! shutting down); the state changes only through them.

use std::io;
use std::time::Instant;

use super::head::{Framing, Head};
use super::io::Received;
use super::pipeline::MAX_DEPTH;
use crate::connection::CloseReason;
use crate::exchange::refusal::{HttpError, Refusal};
use crate::shared::{ConnectionRules, MAX_SKIPPED_BODY};
use crate::shutdown::Shutdown;

/// One connection's state.
#[derive(Debug)]
pub struct State<'a> {
    rules: &'a ConnectionRules,
    /// When the head that has started to arrive, or a new connection's first, must
    /// be complete.
    head_deadline: Option<Instant>,
    reading: Reading,
    /// Set once the connection is to end.
    ending: Option<Ending>,
    /// Requests read on this connection.
    served: u64,
}

/// Whether the connection reads more requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// Requests are read and started as they arrive.
    Open,
    /// Not until the last request read is answered and its body of this many bytes
    /// skipped: bytes inside a body must never be taken for a request.
    AfterBody(u64),
    /// No more: the answer to the last request read ends the connection, for this
    /// reason.
    Stopped(CloseReason),
}

/// How a connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The last answer said `Connection: close`: close the sending side, and read
    /// what the client still sends for a while, so that it reads the answer.
    Graceful(CloseReason),
    /// Nothing more can be said: write what is pending, and close.
    Abrupt(CloseReason),
}

/// What the state needs to know of an answer being encoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Answering {
    /// No other request waits behind it.
    pub last: bool,
    /// Its handler panicked, or its response could not be written.
    pub handler_failed: bool,
    /// The request was HTTP/1.0, whose keep-alive must be said.
    pub http10: bool,
}

/// How long to wait for input: until the deadline, if any, or until the switch is
/// triggered, if any.
pub type InputWait<'a> = (Option<Instant>, Option<&'a Shutdown>);

impl<'a> State<'a> {
    /// A connection that has read nothing yet, on a server with `rules`.
    pub fn new(rules: &'a ConnectionRules) -> Self {
        State {
            rules,
            head_deadline: None,
            reading: Reading::Open,
            ending: None,
            served: 0,
        }
    }

    /// Whether another request may be read now, with `waiting` read and not yet
    /// answered. Once shutting down, only a connection with nothing to answer takes
    /// one more request (its answer says `Connection: close`).
    pub fn reads_more(&self, waiting: usize) -> bool {
        self.reading == Reading::Open
            && self.ending.is_none()
            && waiting < MAX_DEPTH
            && (waiting == 0 || !self.rules.shutting_down())
    }

    /// How long to wait for input, with part of a head in the read buffer or not,
    /// and `waiting` requests read and not yet answered: the head that has started
    /// to arrive, and a new connection's first head, must be complete by the header
    /// timeout (as nginx and Go's net/http count it); a connection that has been
    /// answered and has nothing more to answer stays open for the keep-alive
    /// timeout, or until the server stops accepting; one whose handlers are working
    /// waits for them.
    pub fn input_wait(&mut self, partial_head: bool, waiting: usize) -> InputWait<'a> {
        let limits = &self.rules.limits;
        let awaiting_first_head = waiting == 0 && self.served == 0;
        if partial_head || awaiting_first_head {
            let deadline = *self
                .head_deadline
                .get_or_insert_with(|| Instant::now() + limits.header_timeout);
            (Some(deadline), None)
        } else if waiting == 0 {
            let idle_deadline = Instant::now() + limits.keep_alive_timeout;
            (Some(idle_deadline), Some(&self.rules.accepting_stopped))
        } else {
            (None, None)
        }
    }

    /// A request was read: reading goes on, waits for its body to be skipped, or
    /// stops because the client asked to close or sent a body that cannot be
    /// skipped.
    pub fn request_read(&mut self, head: &Head) {
        self.served += 1;
        self.head_deadline = None;
        let skippable_body = match head.framing {
            Framing::Empty => Some(0),
            Framing::Length(n) if n <= MAX_SKIPPED_BODY && !head.expects_continue => Some(n),
            Framing::Length(_) | Framing::Chunked => None,
        };
        self.reading = match skippable_body {
            _ if head.wants_close => Reading::Stopped(CloseReason::ClientClosed),
            None => Reading::Stopped(CloseReason::Error),
            Some(0) => Reading::Open,
            Some(length) => Reading::AfterBody(length),
        };
    }

    /// A request could not be read: it is answered, then the connection closes, for
    /// the header timeout if the head was too slow, for an error otherwise.
    pub fn refused(&mut self, refusal: Refusal) {
        self.head_deadline = None;
        let reason = match refusal {
            Refusal::HeadTimeout => CloseReason::HeaderTimeout,
            _ => CloseReason::Error,
        };
        self.reading = Reading::Stopped(reason);
    }

    /// What input that arrived, or the end of the wait for it, means, with part of a
    /// head in the read buffer or not, and requests waiting for their answers or
    /// not. Returns the refusal to answer when it cut a head short.
    pub fn input(
        &mut self,
        received: Received,
        partial_head: bool,
        waiting: bool,
    ) -> Option<HttpError> {
        match received {
            Received::Data => {}
            Received::Eof if partial_head => {
                return Some(HttpError::bad_request(
                    "the connection ended inside a request head",
                ));
            }
            Received::TimedOut if partial_head => {
                return Some(HttpError::new(
                    Refusal::HeadTimeout,
                    "the request head took too long to arrive",
                ));
            }
            // Answer what was asked, then close.
            Received::Eof if waiting => self.reading = Reading::Stopped(CloseReason::ClientClosed),
            Received::Eof => self.abort(CloseReason::ClientClosed),
            Received::TimedOut => self.abort(CloseReason::IdleTimeout),
            Received::ShutDown => self.abort(CloseReason::Shutdown),
            Received::Failed => self.abort(CloseReason::Error),
        }
        None
    }

    /// The answer to the oldest request is being encoded. Returns its `Connection`
    /// field's value, if it needs one; an answer that closes the connection ends it.
    pub fn answering(&mut self, answer: Answering) -> Option<&'static str> {
        let closing = match self.reading {
            _ if answer.handler_failed => Some(CloseReason::Error),
            Reading::Stopped(reason) if answer.last => Some(reason),
            _ if answer.last && self.rules.shutting_down() => Some(CloseReason::Shutdown),
            _ => None,
        };
        match closing {
            Some(reason) => {
                self.ending.get_or_insert(Ending::Graceful(reason));
                Some("close")
            }
            None if answer.http10 => Some("keep-alive"),
            None => None,
        }
    }

    /// The answer could not be encoded.
    pub fn encoding_failed(&mut self) {
        self.abort(CloseReason::Error);
    }

    /// Writing ended thus.
    pub fn written(&mut self, result: &io::Result<()>) {
        match result {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::TimedOut => {
                self.abort(CloseReason::WriteTimeout);
            }
            Err(_) => self.abort(CloseReason::Error),
        }
    }

    /// The body to skip, in bytes, once the `last` answer is written, before the
    /// next request can be read, and when it must have arrived: within the header
    /// timeout.
    pub fn body_to_skip(&self, last: bool) -> Option<(u64, Instant)> {
        match self.reading {
            Reading::AfterBody(length) if last && self.ending.is_none() => {
                Some((length, Instant::now() + self.rules.limits.header_timeout))
            }
            _ => None,
        }
    }

    /// The body was skipped, and reading goes on; or it did not arrive in time.
    pub fn body_skipped(&mut self, skipped: bool) {
        if skipped {
            self.reading = Reading::Open;
        } else {
            self.abort(CloseReason::Error);
        }
    }

    /// How the connection ends, once that is decided.
    pub fn ending(&self) -> Option<Ending> {
        self.ending
    }

    /// Ends the connection at once, whatever was decided before.
    fn abort(&mut self, reason: CloseReason) {
        self.ending = Some(Ending::Abrupt(reason));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http1::head::decode_head;
    use crate::testing::default_limits;

    /// The rules of a server with the default options, shutting down or not.
    fn server_rules(shutting_down: bool) -> ConnectionRules {
        let rules = ConnectionRules {
            limits: default_limits(),
            shutdown_requested: Shutdown::new(),
            accepting_stopped: Shutdown::new(),
        };
        if shutting_down {
            rules.shutdown_requested.trigger();
        }
        rules
    }

    const LAST: Answering = Answering {
        last: true,
        handler_failed: false,
        http10: false,
    };
    const NOT_LAST: Answering = Answering {
        last: false,
        ..LAST
    };

    fn read(state: &mut State, head: &str) {
        state.request_read(&decode_head(head.as_bytes()).expect("decodes"));
    }

    /// What the answer says, and how the connection then ends.
    fn answer(state: &mut State, answer: Answering) -> (Option<&'static str>, Option<Ending>) {
        let field = state.answering(answer);
        (field, state.ending())
    }

    fn closes(reason: CloseReason) -> (Option<&'static str>, Option<Ending>) {
        (Some("close"), Some(Ending::Graceful(reason)))
    }

    #[test]
    fn http_1_1_stays_open_and_http_1_0_says_keep_alive() {
        let rules = server_rules(false);
        let mut state = State::new(&rules);
        read(&mut state, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        assert!(state.reads_more(1));
        assert_eq!(answer(&mut state, LAST), (None, None));
        read(
            &mut state,
            "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        );
        let http10 = Answering {
            http10: true,
            ..LAST
        };
        assert_eq!(answer(&mut state, http10), (Some("keep-alive"), None));
    }

    #[test]
    fn a_request_that_closes_is_the_last_read_and_its_answer_ends_the_connection() {
        let rules = server_rules(false);
        let mut state = State::new(&rules);
        read(
            &mut state,
            "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        );
        assert!(!state.reads_more(1));
        assert_eq!(answer(&mut state, LAST), closes(CloseReason::ClientClosed));
    }

    #[test]
    fn a_body_is_skipped_before_the_next_request_unless_it_cannot_be() {
        let rules = server_rules(false);
        let mut state = State::new(&rules);
        read(
            &mut state,
            "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n",
        );
        assert!(!state.reads_more(1));
        assert_eq!(
            state.body_to_skip(false),
            None,
            "not before the last answer"
        );
        assert_eq!(answer(&mut state, LAST), (None, None));
        assert_eq!(state.body_to_skip(true).map(|(length, _)| length), Some(5));
        state.body_skipped(true);
        assert!(state.reads_more(0));
        read(
            &mut state,
            "GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
        assert_eq!(answer(&mut state, LAST), closes(CloseReason::Error));
    }

    #[test]
    fn at_shutdown_only_the_last_answer_closes() {
        let rules = server_rules(true);
        let mut state = State::new(&rules);
        read(&mut state, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        assert!(state.reads_more(0));
        assert!(!state.reads_more(1), "nothing new behind a waiting request");
        assert_eq!(answer(&mut state, NOT_LAST), (None, None));
        assert_eq!(answer(&mut state, LAST), closes(CloseReason::Shutdown));
    }

    #[test]
    fn a_failed_handler_closes_even_with_answers_behind() {
        let rules = server_rules(false);
        let mut state = State::new(&rules);
        let failed = Answering {
            handler_failed: true,
            ..NOT_LAST
        };
        assert_eq!(answer(&mut state, failed), closes(CloseReason::Error));
    }

    #[test]
    fn input_that_ends_a_head_is_refused_and_idle_ends_are_abrupt() {
        let rules = server_rules(false);
        let mut state = State::new(&rules);
        let refused = state.input(Received::TimedOut, true, false).expect("a 408");
        assert_eq!(refused.refusal, Refusal::HeadTimeout);
        state.refused(refused.refusal);
        assert_eq!(answer(&mut state, LAST), closes(CloseReason::HeaderTimeout));
        for (received, reason) in [
            (Received::Eof, CloseReason::ClientClosed),
            (Received::TimedOut, CloseReason::IdleTimeout),
            (Received::ShutDown, CloseReason::Shutdown),
            (Received::Failed, CloseReason::Error),
        ] {
            let rules = server_rules(false);
            let mut state = State::new(&rules);
            assert!(state.input(received, false, false).is_none());
            assert_eq!(state.ending(), Some(Ending::Abrupt(reason)));
        }
    }

    #[test]
    fn only_a_slow_head_closes_for_the_header_timeout() {
        for refusal in Refusal::ALL {
            let rules = server_rules(false);
            let mut state = State::new(&rules);
            state.refused(refusal);
            let reason = match refusal {
                Refusal::HeadTimeout => CloseReason::HeaderTimeout,
                _ => CloseReason::Error,
            };
            assert_eq!(answer(&mut state, LAST), closes(reason), "{refusal:?}");
        }
    }

    #[test]
    fn a_client_that_closes_with_requests_waiting_gets_their_answers() {
        let rules = server_rules(false);
        let mut state = State::new(&rules);
        assert!(state.input(Received::Eof, false, true).is_none());
        assert_eq!(state.ending(), None);
        assert!(!state.reads_more(1));
        assert_eq!(answer(&mut state, NOT_LAST), (None, None));
        assert_eq!(answer(&mut state, LAST), closes(CloseReason::ClientClosed));
    }

    #[test]
    fn a_failed_write_ends_the_connection_whatever_was_decided() {
        let rules = server_rules(false);
        let mut state = State::new(&rules);
        state.answering(LAST);
        state.written(&Err(io::ErrorKind::TimedOut.into()));
        assert_eq!(
            state.ending(),
            Some(Ending::Abrupt(CloseReason::WriteTimeout))
        );
    }
}
