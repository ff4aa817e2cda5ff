//! A stream whose first bytes were read before its protocol was chosen, handed to
//! that protocol unconsumed: they are read again first, then the stream.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use smol::io::{AsyncRead, AsyncWrite};

/// `stream`, with `prefix` read again before it.
#[derive(Debug)]
pub struct Rewind<S> {
    /// What was read before and is not yet read again; `None` once it has been.
    /// Boxed: every connection holds a `Rewind` for its whole life, and its prefix
    /// only for its first read.
    prefix: Option<Box<[u8]>>,
    stream: S,
}

impl<S> Rewind<S> {
    /// `stream`, whose first bytes, `prefix`, were read already.
    pub fn new(prefix: Vec<u8>, stream: S) -> Self {
        Rewind {
            prefix: (!prefix.is_empty()).then(|| prefix.into_boxed_slice()),
            stream,
        }
    }

    /// The bytes read before and not yet read again.
    #[cfg(test)]
    pub fn prefix(&self) -> &[u8] {
        self.prefix.as_deref().unwrap_or_default()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let Some(prefix) = this.prefix.take() else {
            return Pin::new(&mut this.stream).poll_read(cx, buf);
        };
        let n = prefix.len().min(buf.len());
        buf[..n].copy_from_slice(&prefix[..n]);
        // Nearly always read whole: a reader's buffer is larger than a first read.
        this.prefix = (n < prefix.len()).then(|| prefix[n..].into());
        Poll::Ready(Ok(n))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use smol::io::AsyncReadExt;

    use super::*;

    #[test]
    fn the_prefix_is_read_first_then_the_stream() {
        let stream = smol::io::Cursor::new(b" world".to_vec());
        let mut rewound = Rewind::new(b"hello".to_vec(), stream);
        let mut first = [0; 3];
        let n = smol::block_on(rewound.read(&mut first)).unwrap();
        assert_eq!(&first[..n], b"hel");
        let mut rest = Vec::new();
        smol::block_on(rewound.read_to_end(&mut rest)).unwrap();
        assert_eq!(rest, b"lo world");
        assert!(rewound.prefix().is_empty());
    }
}
