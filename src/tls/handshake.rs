//! The TLS handshake of one connection, over rustls' unbuffered API: the records
//! that arrive are processed, the flights rustls encodes are sent, until the client
//! has finished.

use std::future::poll_fn;
use std::io;
use std::sync::Arc;

use rustls::server::{ServerConfig, UnbufferedServerConnection};
use rustls::unbuffered::{ConnectionState, UnbufferedStatus};
use smol::io::AsyncWriteExt;

use super::records::{encode, take_records};
use super::stream::{TlsStream, tls_error};
use crate::transport::Socket;

/// What the handshake waits for.
enum Handshake {
    /// `outgoing` must be sent.
    Transmit,
    /// More input from the client.
    NeedsInput,
    /// It is complete.
    Done,
}

impl TlsStream {
    /// Runs the handshake over `socket`, whose first bytes, already read, are
    /// `incoming`. On a failure, the alert rustls chose is sent before the error
    /// returns. The session is boxed from the start, so that the handshake's future
    /// stays small and nothing large is moved once it is done.
    pub async fn accept(
        socket: Socket,
        config: Arc<ServerConfig>,
        incoming: Vec<u8>,
    ) -> io::Result<Box<TlsStream>> {
        let session = UnbufferedServerConnection::new(config).map_err(tls_error)?;
        let mut stream = Box::new(TlsStream::new(socket, session, incoming));
        loop {
            match stream.process_handshake() {
                Ok(Handshake::Done) => break,
                Ok(Handshake::Transmit) => stream.send_outgoing().await?,
                Ok(Handshake::NeedsInput) => {
                    if poll_fn(|cx| stream.poll_read_socket(cx)).await? == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the client closed during the TLS handshake",
                        ));
                    }
                }
                Err(error) => {
                    // The alert is queued; it goes out before the connection closes.
                    stream.encode_pending();
                    let _ = stream.send_outgoing().await;
                    return Err(tls_error(error));
                }
            }
        }
        // What the handshake's last flight queued (session tickets) goes out now.
        stream.send_outgoing().await?;
        stream.free_empty();
        Ok(stream)
    }

    /// Writes all of `outgoing`, and frees it.
    async fn send_outgoing(&mut self) -> io::Result<()> {
        if !self.outgoing.is_empty() {
            self.socket.write_all(&self.outgoing).await?;
        }
        self.outgoing = Vec::new();
        Ok(())
    }

    /// Moves the handshake on with what has arrived.
    fn process_handshake(&mut self) -> Result<Handshake, rustls::Error> {
        loop {
            let UnbufferedStatus { discard, state } =
                self.session.process_tls_records(&mut self.incoming);
            let next = match state? {
                ConnectionState::EncodeTlsData(mut data) => {
                    encode(&mut self.outgoing, &mut data);
                    None
                }
                ConnectionState::TransmitTlsData(transmit) => {
                    transmit.done();
                    Some(Handshake::Transmit)
                }
                ConnectionState::BlockedHandshake => Some(Handshake::NeedsInput),
                ConnectionState::WriteTraffic(_) => Some(Handshake::Done),
                ConnectionState::ReadTraffic(mut records) => {
                    // A request right behind the client's Finished.
                    take_records(&mut records, &mut self.plaintext)?;
                    None
                }
                // The client's request, and its close_notify, can come with its
                // Finished.
                ConnectionState::PeerClosed => {
                    self.read_closed = true;
                    Some(Handshake::Done)
                }
                _ => return Err(rustls::Error::HandshakeNotComplete),
            };
            self.incoming.drain(..discard);
            self.free_empty();
            if self.read_closed && self.session.is_handshaking() {
                return Err(rustls::Error::HandshakeNotComplete);
            }
            if let Some(next) = next {
                return Ok(next);
            }
        }
    }
}
