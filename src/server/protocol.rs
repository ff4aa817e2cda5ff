//! Which protocol serves a connection, decided once and here: over TLS, by what
//! ALPN agreed on; in cleartext, by whether the first bytes are HTTP/2's preface
//! (prior knowledge, RFC 9113 §3.3). The bytes read to decide are handed to the
//! chosen protocol unconsumed ([`Rewind`]).

use std::io;

use smol::io::{AsyncRead, AsyncReadExt};

use crate::http2::PREFACE as HTTP2_PREFACE;
use crate::transport::Rewind;
use crate::transport::scratch::read_onto;

/// How many of the preface's bytes tell it from HTTP/1: `PRI` starts no HTTP/1
/// method but the preface's own.
const DECIDING: usize = 3;

/// The protocols offered by ALPN, in the server's order: a client that offers
/// both gets HTTP/2; one that offers neither, or no ALPN, is served HTTP/1.1.
pub fn alpn_offer(http2: bool) -> &'static [&'static [u8]] {
    match http2 {
        true => &[b"h2", b"http/1.1"],
        false => &[b"http/1.1"],
    }
}

/// The protocol a connection is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chosen {
    /// HTTP/1.x.
    Http1,
    /// HTTP/2: the stream starts with its preface.
    Http2,
    /// HTTP/2, whose preface the client broke off from: it gets GOAWAY.
    BrokenPreface,
    /// Plain HTTP sent to a port that speaks HTTPS: HTTP/1, which refuses it.
    PlainToTlsPort,
    /// The client left before anything decided.
    Closed,
}

/// How a connection's protocol is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// HTTP/2, agreed on by ALPN: its preface must follow. The stream is TLS,
    /// whose reads go through the thread's scratch buffer themselves: the preface
    /// is read into a buffer of its own.
    Http2,
    /// By the first bytes of a cleartext connection, which reads straight from
    /// its socket: its first read takes all that has arrived, through the thread's
    /// scratch buffer, so that HTTP/1 finds its whole head in it.
    Preface,
    /// HTTP/1.x, whatever comes.
    Http1,
    /// None: the client spoke plain HTTP to a port that speaks HTTPS.
    PlainToTlsPort,
}

impl Choice {
    /// What the protocol ALPN agreed on over TLS, if any, chooses.
    pub fn by_alpn(agreed: Option<&[u8]>) -> Self {
        match agreed {
            Some(b"h2") => Choice::Http2,
            _ => Choice::Http1,
        }
    }
}

/// Chooses the protocol `stream` is served, reading as many of its first bytes as
/// that takes; returns it, and the stream with those bytes to be read again.
pub async fn choose<S: AsyncRead + Unpin>(
    choice: Choice,
    mut stream: S,
) -> io::Result<(Chosen, Rewind<S>)> {
    let mut first = Vec::new();
    let chosen = match choice {
        Choice::Http1 => Chosen::Http1,
        Choice::PlainToTlsPort => Chosen::PlainToTlsPort,
        Choice::Http2 => read_preface(&mut stream, &mut first, false).await?,
        Choice::Preface => read_preface(&mut stream, &mut first, true).await?,
    };
    Ok((chosen, Rewind::new(first, stream)))
}

/// Reads until the bytes read onto `first` are the whole preface, or are not
/// HTTP/2's. In `cleartext`, fewer than `DECIDING` bytes that do not start the
/// preface, or a stream that ends before them, are HTTP/1's, and each read takes
/// all that has arrived; over TLS (ALPN said h2) anything else is a broken
/// preface, and no more than the preface's bytes are read.
async fn read_preface<S: AsyncRead + Unpin>(
    stream: &mut S,
    first: &mut Vec<u8>,
    cleartext: bool,
) -> io::Result<Chosen> {
    let http1_below = if cleartext { DECIDING } else { 0 };
    loop {
        let deciding = first.len().min(http1_below);
        if first[..deciding] != HTTP2_PREFACE[..deciding] {
            return Ok(Chosen::Http1);
        }
        let seen = first.len().min(HTTP2_PREFACE.len());
        if first[..seen] != HTTP2_PREFACE[..seen] {
            return Ok(Chosen::BrokenPreface);
        }
        if seen == HTTP2_PREFACE.len() {
            return Ok(Chosen::Http2);
        }
        let n = if cleartext {
            read_onto(stream, first).await?
        } else {
            let mut more = [0; HTTP2_PREFACE.len()];
            let n = stream.read(&mut more[..HTTP2_PREFACE.len() - seen]).await?;
            first.extend_from_slice(&more[..n]);
            n
        };
        if n == 0 {
            return Ok(match first.len() < http1_below {
                true => Chosen::Http1,
                false => Chosen::Closed,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use smol::io::AsyncReadExt;

    use super::*;
    use crate::testing::MemoryStream;

    /// What `input`, arriving in `pieces`, is served, and what is read again.
    fn chosen(choice: Choice, input: &[u8], pieces: &[usize]) -> (Chosen, Vec<u8>) {
        let stream = MemoryStream::new(input.to_vec(), pieces.iter().copied());
        let (chosen, mut rewound) = smol::block_on(choose(choice, stream)).unwrap();
        let mut read = Vec::new();
        smol::block_on(rewound.read_to_end(&mut read)).unwrap();
        (chosen, read)
    }

    #[test]
    fn the_preface_in_cleartext_is_http2_and_is_read_again_whole() {
        let mut input = HTTP2_PREFACE.to_vec();
        input.extend(b"\0\0\0\x04\0\0\0\0\0");
        for pieces in [&[][..], &[1; 30], &[2, 22, 9], &[24]] {
            assert_eq!(
                chosen(Choice::Preface, &input, pieces),
                (Chosen::Http2, input.clone())
            );
        }
    }

    #[test]
    fn anything_else_in_cleartext_is_http1_read_again_whole() {
        for input in [&b"GET / HTTP/1.1\r\n\r\n"[..], b"PUT", b"P", b"", b"PR"] {
            for pieces in [&[][..], &[1, 1, 1]] {
                assert_eq!(
                    chosen(Choice::Preface, input, pieces),
                    (Chosen::Http1, input.to_vec())
                );
            }
        }
    }

    #[test]
    fn a_preface_broken_off_is_refused_and_one_cut_short_is_a_close() {
        let broken = b"PRI * HTTP/1.1\r\n\r\n";
        assert_eq!(
            chosen(Choice::Preface, broken, &[]).0,
            Chosen::BrokenPreface
        );
        assert_eq!(chosen(Choice::Preface, b"PRI * HT", &[]).0, Chosen::Closed);
        assert_eq!(
            chosen(Choice::Http2, b"GET /", &[]).0,
            Chosen::BrokenPreface
        );
        assert_eq!(chosen(Choice::Http2, b"", &[]).0, Chosen::Closed);
    }

    #[test]
    fn alpn_decides_over_tls_without_a_read() {
        let input = b"GET / HTTP/1.1\r\n\r\n";
        assert_eq!(Choice::by_alpn(Some(b"h2")), Choice::Http2);
        assert_eq!(Choice::by_alpn(Some(b"http/1.1")), Choice::Http1);
        assert_eq!(Choice::by_alpn(None), Choice::Http1);
        assert_eq!(
            chosen(Choice::Http1, input, &[1]),
            (Chosen::Http1, input.to_vec())
        );
        assert_eq!(chosen(Choice::Http1, HTTP2_PREFACE, &[]).0, Chosen::Http1);
        assert_eq!(
            chosen(Choice::PlainToTlsPort, input, &[]),
            (Chosen::PlainToTlsPort, input.to_vec())
        );
        assert_eq!(
            chosen(Choice::Http2, HTTP2_PREFACE, &[5]),
            (Chosen::Http2, HTTP2_PREFACE.to_vec())
        );
    }
}
