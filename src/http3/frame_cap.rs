//! The cap on what one HTTP/3 frame may make h3 hold. h3 reads a frame's whole
//! payload into memory before it parses it (a HEADERS frame, a SETTINGS frame, a
//! frame of a reserved type), and takes whatever length the frame's header says:
//! a HEADERS frame that says 1 GiB, its bytes sent slowly, would grow without
//! bound. [`FrameCap`] reads the frame headers as the stream's bytes go by, and
//! stops the stream at the first frame other than DATA (whose payload h3 hands on
//! as it arrives) that says it is longer than the cap (RFC 9114 §7.1, §10.5).

/// The varints (RFC 9000 §16) of a frame header: its type and its length.
const MAX_HEADER_LEN: usize = 16;
/// DATA's frame type: its payload is not held.
const DATA: u64 = 0x00;
/// The type of a unidirectional stream that carries frames: the control stream.
const CONTROL_STREAM: u64 = 0x00;

/// A frame longer than the cap: its type and the length it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge {
    pub frame_type: u64,
    pub length: u64,
}

/// Which stream's bytes a cap reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    /// A request stream: frames from its first byte.
    Request,
    /// A unidirectional stream: its type first, then frames for a control stream;
    /// QPACK's instructions and streams of unknown types carry no frames.
    Unidirectional,
}

/// Reads the frame headers of one stream as its bytes arrive.
#[derive(Debug, Clone)]
pub struct FrameCap {
    limit: u64,
    reading: Reading,
}

#[derive(Debug, Clone)]
enum Reading {
    /// A unidirectional stream's type, up to `len` bytes of it in `bytes`.
    StreamType { bytes: [u8; 8], len: u8 },
    /// A frame's header so far.
    Header {
        bytes: [u8; MAX_HEADER_LEN],
        len: u8,
    },
    /// This much of a frame's payload is still to come.
    Payload { left: u64 },
    /// A stream without frames: nothing more to read.
    Unframed,
}

impl FrameCap {
    /// A cap of `limit` bytes per frame, for a stream of `kind`.
    pub fn new(limit: u64, kind: StreamKind) -> FrameCap {
        let reading = match kind {
            StreamKind::Request => Reading::Header {
                bytes: [0; MAX_HEADER_LEN],
                len: 0,
            },
            StreamKind::Unidirectional => Reading::StreamType {
                bytes: [0; 8],
                len: 0,
            },
        };
        FrameCap { limit, reading }
    }

    /// Reads the stream's next bytes; the first frame over the cap, if they start
    /// one.
    pub fn read(&mut self, mut bytes: &[u8]) -> Result<(), TooLarge> {
        while !bytes.is_empty() {
            match &mut self.reading {
                Reading::Unframed => return Ok(()),
                Reading::Payload { left } => {
                    let taken = (*left).min(bytes.len() as u64);
                    *left -= taken;
                    bytes = &bytes[taken as usize..];
                    if *left == 0 {
                        self.reading = Reading::header();
                    }
                }
                Reading::StreamType { bytes: read, len } => {
                    let taken = take_varint(read, len, &mut bytes);
                    if let Some((stream_type, _)) = taken {
                        self.reading = match stream_type {
                            CONTROL_STREAM => Reading::header(),
                            _ => Reading::Unframed,
                        };
                    }
                }
                Reading::Header { bytes: read, len } => {
                    if let Some((frame_type, length)) = take_header(read, len, &mut bytes) {
                        if frame_type != DATA && length > self.limit {
                            return Err(TooLarge { frame_type, length });
                        }
                        self.reading = match length {
                            0 => Reading::header(),
                            left => Reading::Payload { left },
                        };
                    }
                }
            }
        }
        Ok(())
    }
}

impl Reading {
    fn header() -> Reading {
        Reading::Header {
            bytes: [0; MAX_HEADER_LEN],
            len: 0,
        }
    }
}

/// The length of the varint whose first byte is `first`.
fn varint_len(first: u8) -> usize {
    1 << (first >> 6)
}

/// The value of a whole varint.
fn varint_value(bytes: &[u8]) -> u64 {
    let mut value = u64::from(bytes[0] & 0x3f);
    for byte in &bytes[1..] {
        value = (value << 8) | u64::from(*byte);
    }
    value
}

/// Moves bytes of `input` onto the `len` bytes of a varint read so far, up to its
/// end: its value and length once it is whole.
fn take_varint(read: &mut [u8], len: &mut u8, input: &mut &[u8]) -> Option<(u64, usize)> {
    if *len == 0 {
        read[0] = input[0];
        *input = &input[1..];
        *len = 1;
    }
    let whole = varint_len(read[0]);
    let wanted = (whole - *len as usize).min(input.len());
    read[*len as usize..*len as usize + wanted].copy_from_slice(&input[..wanted]);
    *input = &input[wanted..];
    *len += wanted as u8;
    (*len as usize == whole).then(|| (varint_value(&read[..whole]), whole))
}

/// Moves bytes of `input` onto a frame header read so far, up to its end: its type
/// and length once both are whole.
fn take_header(
    read: &mut [u8; MAX_HEADER_LEN],
    len: &mut u8,
    input: &mut &[u8],
) -> Option<(u64, u64)> {
    while !input.is_empty() {
        let have = *len as usize;
        if have > 0 {
            let type_len = varint_len(read[0]);
            if have >= type_len {
                let length_len = varint_len(read[type_len]);
                if have == type_len + length_len {
                    break;
                }
            }
        }
        read[have] = input[0];
        *input = &input[1..];
        *len += 1;
    }
    let have = *len as usize;
    let type_len = varint_len(read[0]);
    if have <= type_len {
        return None;
    }
    let length_len = varint_len(read[type_len]);
    (have == type_len + length_len).then(|| {
        (
            varint_value(&read[..type_len]),
            varint_value(&read[type_len..have]),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A varint in its shortest form.
    fn varint(value: u64) -> Vec<u8> {
        match value {
            0..64 => vec![value as u8],
            64..16_384 => (value as u16 | 0x4000).to_be_bytes().to_vec(),
            16_384..1_073_741_824 => (value as u32 | 0x8000_0000).to_be_bytes().to_vec(),
            _ => (value | 0xc000_0000_0000_0000).to_be_bytes().to_vec(),
        }
    }

    fn frame(frame_type: u64, payload: &[u8]) -> Vec<u8> {
        let mut bytes = varint(frame_type);
        bytes.extend(varint(payload.len() as u64));
        bytes.extend(payload);
        bytes
    }

    /// Reads `bytes` `step` bytes at a time.
    fn read_in_steps(cap: &mut FrameCap, bytes: &[u8], step: usize) -> Result<(), TooLarge> {
        bytes.chunks(step).try_for_each(|chunk| cap.read(chunk))
    }

    #[test]
    fn frames_within_the_cap_pass_however_their_bytes_are_cut() {
        let mut stream = frame(0x01, &[7; 100]);
        stream.extend(frame(DATA, &[1; 5000]));
        stream.extend(frame(0x21, &[])); // A reserved type, empty.
        stream.extend(frame(0x01, &[7; 100]));
        for step in [1, 2, 3, 7, 64, stream.len()] {
            let mut cap = FrameCap::new(100, StreamKind::Request);
            assert_eq!(
                read_in_steps(&mut cap, &stream, step),
                Ok(()),
                "step {step}"
            );
        }
    }

    #[test]
    fn a_headers_frame_over_the_cap_is_stopped_at_its_header() {
        // Its header says 1 GiB; no byte of its payload is needed to know.
        let mut header = varint(0x01);
        header.extend(varint(1 << 30));
        for step in [1, 2, header.len()] {
            let mut cap = FrameCap::new(16_384, StreamKind::Request);
            let read = read_in_steps(&mut cap, &header, step);
            let too_large = TooLarge {
                frame_type: 0x01,
                length: 1 << 30,
            };
            assert_eq!(read, Err(too_large), "step {step}");
        }
    }

    #[test]
    fn only_data_may_be_longer_than_the_cap() {
        let mut cap = FrameCap::new(10, StreamKind::Request);
        assert_eq!(cap.read(&frame(DATA, &[0; 11])), Ok(()));
        assert!(cap.read(&frame(0x1f * 3 + 0x21, &[0; 11])).is_err());
        // A frame after a long DATA frame is read from its own header.
        let mut cap = FrameCap::new(10, StreamKind::Request);
        let mut stream = frame(DATA, &[0; 1000]);
        stream.extend(frame(0x01, &[0; 11]));
        assert!(read_in_steps(&mut cap, &stream, 33).is_err());
    }

    #[test]
    fn the_control_stream_is_read_after_its_type_and_others_are_not() {
        let settings = frame(0x04, &[0; 6]);
        let endless = {
            let mut header = varint(0x21);
            header.extend(varint(1 << 40));
            header
        };
        let mut control = varint(CONTROL_STREAM);
        control.extend(&settings);
        control.extend(&endless);
        let mut cap = FrameCap::new(100, StreamKind::Unidirectional);
        assert!(read_in_steps(&mut cap, &control, 1).is_err());
        // A QPACK encoder stream (type 0x02), and a stream of a reserved type with
        // a two-byte varint for its type, carry no frames.
        for stream_type in [0x02, 0x21] {
            let mut stream = varint(stream_type);
            stream.extend(&endless);
            let mut cap = FrameCap::new(100, StreamKind::Unidirectional);
            assert_eq!(read_in_steps(&mut cap, &stream, 1), Ok(()));
        }
    }
}
