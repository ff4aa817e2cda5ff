//! After the handshake: records decrypted into plaintext, plaintext and close_notify
//! encrypted into records, and what rustls asks to send meanwhile (a key update).

use std::io;

use rustls::server::ServerConnectionData;
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncodeTlsData, EncryptError, ReadTraffic, UnbufferedStatus,
    WriteTraffic,
};

use super::stream::{TlsStream, tls_error};

impl TlsStream {
    /// Encodes what rustls has queued to send (an alert, session tickets, a key
    /// update) into `outgoing`.
    pub(super) fn encode_pending(&mut self) {
        while let UnbufferedStatus {
            state: Ok(ConnectionState::EncodeTlsData(mut data)),
            ..
        } = self.session.process_tls_records(&mut [])
        {
            encode(&mut self.outgoing, &mut data);
        }
    }

    /// Decrypts the records that have arrived into `plaintext`; whether any came.
    pub(super) fn decrypt(&mut self) -> io::Result<bool> {
        let mut decrypted = false;
        loop {
            let UnbufferedStatus { discard, state } =
                self.session.process_tls_records(&mut self.incoming);
            let done = match state.map_err(tls_error)? {
                ConnectionState::ReadTraffic(mut records) => {
                    decrypted |=
                        take_records(&mut records, &mut self.plaintext).map_err(tls_error)?;
                    false
                }
                ConnectionState::EncodeTlsData(mut data) => {
                    encode(&mut self.outgoing, &mut data);
                    false
                }
                ConnectionState::TransmitTlsData(transmit) => {
                    // Written with the next response, or at the flush.
                    transmit.done();
                    false
                }
                ConnectionState::PeerClosed | ConnectionState::Closed => {
                    self.read_closed = true;
                    true
                }
                // Everything complete is processed: more input is needed.
                _ => true,
            };
            self.incoming.drain(..discard);
            if done {
                self.free_empty();
                return Ok(decrypted);
            }
        }
    }

    /// Encrypts `plaintext` into `outgoing`.
    pub(super) fn encrypt(&mut self, plaintext: &[u8]) -> io::Result<()> {
        self.with_write_traffic(|traffic, out| {
            let room = encrypted_size(plaintext.len());
            write_into(
                out,
                room,
                |room| traffic.encrypt(plaintext, room),
                encrypt_needs,
            )
        })
    }

    /// Queues close_notify in `outgoing`.
    pub(super) fn queue_close_notify(&mut self) -> io::Result<()> {
        self.with_write_traffic(|traffic, out| {
            let room = encrypted_size(2);
            write_into(
                out,
                room,
                |room| traffic.queue_close_notify(room),
                encrypt_needs,
            )
        })
    }

    /// Calls `write` once rustls may send application data, after encoding what it
    /// has queued.
    fn with_write_traffic(
        &mut self,
        write: impl FnOnce(
            &mut WriteTraffic<'_, ServerConnectionData>,
            &mut Vec<u8>,
        ) -> Result<(), EncryptError>,
    ) -> io::Result<()> {
        loop {
            let status = self.session.process_tls_records(&mut []);
            match status.state.map_err(tls_error)? {
                ConnectionState::EncodeTlsData(mut data) => encode(&mut self.outgoing, &mut data),
                ConnectionState::TransmitTlsData(transmit) => transmit.done(),
                ConnectionState::WriteTraffic(mut traffic) => {
                    return write(&mut traffic, &mut self.outgoing)
                        .map_err(|error| io::Error::other(error.to_string()));
                }
                ConnectionState::ReadTraffic(mut records) => {
                    take_records(&mut records, &mut self.plaintext).map_err(tls_error)?;
                }
                _ => return Err(io::ErrorKind::BrokenPipe.into()),
            }
        }
    }
}

/// Encodes a handshake record rustls has queued onto the end of `out`.
pub(super) fn encode(out: &mut Vec<u8>, data: &mut EncodeTlsData<'_, ServerConnectionData>) {
    // It fails only if the record was encoded already.
    let _ = write_into(
        out,
        1024,
        |room| data.encode(room),
        |error| match error {
            EncodeError::InsufficientSize(needed) => Some(needed.required_size),
            _ => None,
        },
    );
}

fn encrypt_needs(error: &EncryptError) -> Option<usize> {
    match error {
        EncryptError::InsufficientSize(needed) => Some(needed.required_size),
        _ => None,
    }
}

/// Copies the decrypted records of `records` onto the end of `plaintext`; whether
/// there were any.
pub(super) fn take_records(
    records: &mut ReadTraffic<'_, '_, ServerConnectionData>,
    plaintext: &mut Vec<u8>,
) -> Result<bool, rustls::Error> {
    let mut any = false;
    while let Some(record) = records.next_record() {
        plaintext.extend_from_slice(record?.payload);
        any = true;
    }
    Ok(any)
}

/// The most `plaintext` bytes become once encrypted: per record of at most 16 KiB,
/// a 5-byte header and 24 bytes of nonce, content type and tag (TLS 1.2's
/// AES-GCM, the largest), so that encryption fits the first time.
fn encrypted_size(plaintext: usize) -> usize {
    plaintext + (plaintext / (16 * 1024) + 1) * 29
}

/// Runs `write` over `room` bytes at the end of `out`, or over as much as `needs`
/// says it asked for when that was too little.
fn write_into<E>(
    out: &mut Vec<u8>,
    mut room: usize,
    mut write: impl FnMut(&mut [u8]) -> Result<usize, E>,
    needs: fn(&E) -> Option<usize>,
) -> Result<(), E> {
    let start = out.len();
    loop {
        out.resize(start + room, 0);
        match write(&mut out[start..]) {
            Ok(written) => {
                out.truncate(start + written);
                return Ok(());
            }
            Err(error) => match needs(&error) {
                Some(needed) if needed > room => room = needed,
                _ => {
                    out.truncate(start);
                    return Err(error);
                }
            },
        }
    }
}
