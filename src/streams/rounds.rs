//! A connection's streams, answered together in its task, in rounds: every
//! answer that is done, then every stream the protocol has read, then their
//! answers, until neither moves. A library writes when it is polled, so the
//! answers of one round go out in one write, not one write each.

use std::task::{Context, Poll};

use futures_util::stream::{FuturesUnordered, StreamExt};

use super::stream::{StreamEnd, StreamFuture};

/// The streams of one connection being answered.
#[derive(Default)]
pub struct Streams<'a> {
    answering: FuturesUnordered<StreamFuture<'a>>,
}

impl<'a> Streams<'a> {
    /// Starts answering a stream beside the others.
    pub fn push(&mut self, answer: StreamFuture<'a>) {
        self.answering.push(answer);
    }

    /// How many streams are being answered.
    pub fn len(&self) -> usize {
        self.answering.len()
    }

    /// Drops every stream's answer, and its handler: the connection is ending.
    pub fn clear(&mut self) {
        self.answering.clear();
    }
}

/// What a connection's rounds take streams from, and tell what happens: the
/// connection of a stream protocol.
pub trait StreamSource<'a> {
    /// What ends a round early: the connection closed, a flood, a shutdown asked
    /// for.
    type Event;

    /// Takes up the next stream the client has opened, if one is ready: its answer
    /// is pushed onto `streams`. `Ready(Ok(()))` for each stream taken up,
    /// `Ready(Err(event))` when the connection has something to say instead.
    fn poll_take(
        &mut self,
        cx: &mut Context<'_>,
        streams: &mut Streams<'a>,
    ) -> Poll<Result<(), Self::Event>>;

    /// A stream's answer ended thus; an event, if that ends the round.
    fn ended(&mut self, end: StreamEnd) -> Option<Self::Event>;

    /// Whether anything ends the round now, with `open` streams being answered:
    /// asked between streams taken up and answers ended.
    fn poll_event(&mut self, cx: &mut Context<'_>, open: usize) -> Option<Self::Event>;
}

/// How a round ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Round<E> {
    /// Streams were taken up or answered.
    Progress,
    /// The source had something to say.
    Event(E),
}

/// Runs rounds until streams have been taken up or answered, or the source has an
/// event; `Pending` while nothing moves.
pub fn poll_round<'a, S: StreamSource<'a>>(
    streams: &mut Streams<'a>,
    source: &mut S,
    cx: &mut Context<'_>,
) -> Poll<Round<S::Event>> {
    let mut progressed = false;
    loop {
        while let Poll::Ready(Some(end)) = streams.answering.poll_next_unpin(cx) {
            if let Some(event) = source.ended(end) {
                return Poll::Ready(Round::Event(event));
            }
            progressed = true;
        }
        if let Some(event) = source.poll_event(cx, streams.len()) {
            return Poll::Ready(Round::Event(event));
        }
        let mut taken = false;
        loop {
            match source.poll_take(cx, streams) {
                Poll::Ready(Ok(())) => taken = true,
                Poll::Ready(Err(event)) => return Poll::Ready(Round::Event(event)),
                Poll::Pending => break,
            }
            if let Some(event) = source.poll_event(cx, streams.len()) {
                return Poll::Ready(Round::Event(event));
            }
        }
        if !taken {
            break;
        }
        progressed = true;
    }
    // The last poll may have read what the source has to say, and nothing more.
    if let Some(event) = source.poll_event(cx, streams.len()) {
        return Poll::Ready(Round::Event(event));
    }
    match progressed {
        true => Poll::Ready(Round::Progress),
        false => Poll::Pending,
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use super::*;

    /// A made-up protocol's connection: streams ready to be taken up, each
    /// answered at once; an event once `stop_after` streams have ended.
    struct MadeUpSource {
        ready: u32,
        ended: u32,
        stop_after: u32,
    }

    impl<'a> StreamSource<'a> for MadeUpSource {
        type Event = &'static str;

        fn poll_take(
            &mut self,
            _: &mut Context<'_>,
            streams: &mut Streams<'a>,
        ) -> Poll<Result<(), &'static str>> {
            if self.ready == 0 {
                return Poll::Pending;
            }
            self.ready -= 1;
            streams.push(Box::pin(async { StreamEnd::Answered }));
            Poll::Ready(Ok(()))
        }

        fn ended(&mut self, end: StreamEnd) -> Option<&'static str> {
            assert_eq!(end, StreamEnd::Answered);
            self.ended += 1;
            None
        }

        fn poll_event(&mut self, _: &mut Context<'_>, _: usize) -> Option<&'static str> {
            (self.ended >= self.stop_after).then_some("enough")
        }
    }

    /// Ten streams ready, and the round they are answered in.
    fn one_round(stop_after: u32) -> (Streams<'static>, MadeUpSource, Round<&'static str>) {
        let mut streams = Streams::default();
        let mut source = MadeUpSource {
            ready: 10,
            ended: 0,
            stop_after,
        };
        let round = smol::block_on(poll_fn(|cx| poll_round(&mut streams, &mut source, cx)));
        (streams, source, round)
    }

    #[test]
    fn streams_are_taken_up_and_answered_in_rounds_until_nothing_moves() {
        let (mut streams, mut source, round) = one_round(u32::MAX);
        assert_eq!(round, Round::Progress);
        assert_eq!((source.ready, source.ended, streams.len()), (0, 10, 0));
        // Nothing left to take up or answer: the round waits.
        let waits = smol::block_on(poll_fn(|cx| {
            Poll::Ready(poll_round(&mut streams, &mut source, cx).is_pending())
        }));
        assert!(waits);
    }

    /// Every stream ready is taken up before their answers are polled, so a round
    /// of ten ends with ten answers, and the event wins over the progress.
    #[test]
    fn an_event_ends_the_round() {
        let (_, source, round) = one_round(3);
        assert_eq!(round, Round::Event("enough"));
        assert_eq!((source.ready, source.ended), (0, 10));
    }
}
