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
