//! The PROXY protocol header itself: what the first bytes of a connection are (a
//! whole v1 or v2 header, the start of one, or not one that is believed), and the
//! bounds. The `ppp` crate parses; this decides what its answers mean for a
//! connection that is still arriving.

use std::net::SocketAddr;

use ppp::{PartialResult, v1, v2};

/// Why a connection was refused before its PROXY protocol header was believed: the
/// `reason` label of `smol_toy_proxy_protocol_rejected_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderRefusal {
    /// The peer is not in `--trusted-proxies`; nothing it sent was read.
    Untrusted,
    /// The connection did not start with a PROXY header (plain HTTP, or TLS).
    Missing,
    /// The header is not a valid v1 or v2 header.
    Malformed,
    /// The header is longer than the bound: 107 bytes for v1, a length field of
    /// more than `V2_MAX_PAYLOAD` for v2.
    TooLong,
    /// The peer closed the connection before the header was complete.
    Truncated,
    /// The header was not complete within the header timeout.
    Timeout,
}

impl HeaderRefusal {
    /// Every reason, in the order of their counters.
    pub const ALL: [HeaderRefusal; 6] = [
        HeaderRefusal::Untrusted,
        HeaderRefusal::Missing,
        HeaderRefusal::Malformed,
        HeaderRefusal::TooLong,
        HeaderRefusal::Truncated,
        HeaderRefusal::Timeout,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            HeaderRefusal::Untrusted => "untrusted",
            HeaderRefusal::Missing => "missing",
            HeaderRefusal::Malformed => "malformed",
            HeaderRefusal::TooLong => "too_long",
            HeaderRefusal::Truncated => "truncated",
            HeaderRefusal::Timeout => "timeout",
        }
    }
}

/// The longest v1 header, CRLF included, as the specification bounds it.
pub const V1_MAX_LEN: usize = 107;
/// The largest v2 length field accepted: the bytes after the 16 fixed ones, that is,
/// the address block and the TLVs. The largest address block (two Unix socket
/// paths) takes 216 bytes; the 808 left hold the TLVs balancers send (an authority
/// of up to 255 bytes, a unique id of up to 128, a CRC32C, SSL details, a cloud's
/// endpoint id) several times over. The field itself would allow 65,535.
pub const V2_MAX_PAYLOAD: usize = 1024;
/// The signature, version and command, family and transport, and length of a v2
/// header.
const V2_FIXED_LEN: usize = 16;
/// The most bytes an accepted header takes.
pub(super) const MAX_HEADER_LEN: usize = V2_FIXED_LEN + V2_MAX_PAYLOAD;

/// What the first bytes of a connection are.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Parsed {
    /// A whole header, of `len` bytes, that names `client`, or `None` when the
    /// socket's peer is the client (`UNKNOWN`, `LOCAL`, or no IP address).
    Header {
        len: usize,
        client: Option<SocketAddr>,
    },
    /// The start of a header.
    Incomplete,
    /// Not a header that is believed.
    Refused(HeaderRefusal, String),
}

/// Parses the start of a connection: a v2 header begins with CR (which no request
/// or TLS record does), a v1 header with `PROXY`.
pub(super) fn parse(bytes: &[u8]) -> Parsed {
    let v1_prefix = v1::PROTOCOL_PREFIX.as_bytes();
    let starts_like_v1 = bytes.len() >= v1_prefix.len() && bytes.starts_with(v1_prefix)
        || v1_prefix.starts_with(bytes);
    match bytes.first() {
        Some(b'\r') => parse_v2(bytes),
        Some(_) if starts_like_v1 => parse_v1(bytes),
        _ => Parsed::Refused(
            HeaderRefusal::Missing,
            "the connection does not start with a PROXY protocol header".into(),
        ),
    }
}

/// A v1 header is a line: it is parsed once its LF has come, within the bound. (ppp
/// tells a line cut short after a space from a malformed one only once it is whole.)
fn parse_v1(bytes: &[u8]) -> Parsed {
    let too_long = || {
        let detail = format!("a v1 header is at most {V1_MAX_LEN} bytes");
        Parsed::Refused(HeaderRefusal::TooLong, detail)
    };
    let Some(end) = bytes
        .iter()
        .position(|&byte| byte == b'\n')
        .map(|lf| lf + 1)
    else {
        return if bytes.len() < V1_MAX_LEN {
            Parsed::Incomplete
        } else {
            too_long()
        };
    };
    if end > V1_MAX_LEN {
        return too_long();
    }
    match v1::Header::try_from(&bytes[..end]) {
        // ppp stops at the first CR: one before the end is not the line's CRLF.
        Ok(header) if header.header.len() == end => Parsed::Header {
            len: end,
            client: match header.addresses {
                v1::Addresses::Tcp4(a) => Some((a.source_address, a.source_port).into()),
                v1::Addresses::Tcp6(a) => Some((a.source_address, a.source_port).into()),
                v1::Addresses::Unknown => None,
            },
        },
        Ok(_) => Parsed::Refused(HeaderRefusal::Malformed, "v1: a CR inside the line".into()),
        Err(error) => Parsed::Refused(HeaderRefusal::Malformed, format!("v1: {error}")),
    }
}

fn parse_v2(bytes: &[u8]) -> Parsed {
    if bytes.len() >= V2_FIXED_LEN && bytes.starts_with(v2::PROTOCOL_PREFIX) {
        let length = usize::from(u16::from_be_bytes([bytes[14], bytes[15]]));
        if length > V2_MAX_PAYLOAD {
            return Parsed::Refused(
                HeaderRefusal::TooLong,
                format!("v2 length {length}; at most {V2_MAX_PAYLOAD} is accepted"),
            );
        }
    }
    match v2::Header::try_from(bytes) {
        Ok(header) => Parsed::Header {
            len: header.len(),
            client: match (header.command, header.addresses) {
                (v2::Command::Proxy, v2::Addresses::IPv4(a)) => {
                    Some((a.source_address, a.source_port).into())
                }
                (v2::Command::Proxy, v2::Addresses::IPv6(a)) => {
                    Some((a.source_address, a.source_port).into())
                }
                _ => None,
            },
        },
        Err(error) if error.is_incomplete() => Parsed::Incomplete,
        Err(error) => Parsed::Refused(HeaderRefusal::Malformed, format!("v2: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    /// A v2 header: version 2 and `command`, `family_transport`, then `payload`
    /// under a length field that says `length`.
    fn v2(command: u8, family_transport: u8, length: u16, payload: &[u8]) -> Vec<u8> {
        let mut header = v2::PROTOCOL_PREFIX.to_vec();
        header.extend([0x20 | command, family_transport]);
        header.extend(length.to_be_bytes());
        header.extend(payload);
        header
    }

    /// An IPv4 address block: 192.0.2.7:40000 to 198.51.100.1:443.
    const IPV4_BLOCK: [u8; 12] = [192, 0, 2, 7, 198, 51, 100, 1, 0x9c, 0x40, 1, 187];

    fn refusal(bytes: &[u8]) -> HeaderRefusal {
        match parse(bytes) {
            Parsed::Refused(reason, _) => reason,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(bytes)),
        }
    }

    #[test]
    fn v1_names_the_client_and_stops_at_its_crlf() {
        let line = b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 443\r\n";
        let with_request = [&line[..], b"GET / HTTP/1.1\r\n\r\n"].concat();
        let expected = Parsed::Header {
            len: line.len(),
            client: Some(addr("192.0.2.7:40000")),
        };
        assert_eq!(parse(&with_request), expected);
        let line6 = b"PROXY TCP6 2001:db8::7 2001:db8::1 40000 443\r\n";
        assert_eq!(
            parse(line6),
            Parsed::Header {
                len: line6.len(),
                client: Some(addr("[2001:db8::7]:40000")),
            }
        );
        let unknown = b"PROXY UNKNOWN\r\n\x16\x03\x01";
        let expected = Parsed::Header {
            len: 15,
            client: None,
        };
        assert_eq!(parse(unknown), expected);
    }

    #[test]
    fn every_prefix_of_a_header_asks_for_more() {
        let v1 = b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 443\r\n".to_vec();
        let v2 = v2(1, 0x11, 12, &IPV4_BLOCK);
        for header in [v1, v2] {
            for end in 1..header.len() {
                assert_eq!(
                    parse(&header[..end]),
                    Parsed::Incomplete,
                    "{:?}",
                    &header[..end]
                );
            }
        }
    }

    #[test]
    fn v2_names_the_client_unless_it_is_local() {
        let header = [v2(1, 0x11, 12, &IPV4_BLOCK), b"GET".to_vec()].concat();
        let expected = Parsed::Header {
            len: 28,
            client: Some(addr("192.0.2.7:40000")),
        };
        assert_eq!(parse(&header), expected);
        let mut ipv6 = [0u8; 36];
        ipv6[..16].copy_from_slice(
            &"2001:db8::7"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        ipv6[32..34].copy_from_slice(&40000u16.to_be_bytes());
        let expected = Parsed::Header {
            len: 52,
            client: Some(addr("[2001:db8::7]:40000")),
        };
        assert_eq!(parse(&v2(1, 0x21, 36, &ipv6)), expected);
        // TLVs after the addresses are skipped with them: a NOOP of 3 bytes.
        let tlv = [&IPV4_BLOCK[..], &[4, 0, 3, 0, 0, 0]].concat();
        assert!(matches!(
            parse(&v2(1, 0x11, 18, &tlv)),
            Parsed::Header { len: 34, .. }
        ));
        // LOCAL (a balancer's health check), with or without addresses.
        let local = Parsed::Header {
            len: 16,
            client: None,
        };
        assert_eq!(parse(&v2(0, 0x00, 0, &[])), local);
        let local_with_addresses = parse(&v2(0, 0x11, 12, &IPV4_BLOCK));
        assert_eq!(
            local_with_addresses,
            Parsed::Header {
                len: 28,
                client: None,
            }
        );
    }

    #[test]
    fn what_does_not_start_like_a_header_is_missing_one() {
        for start in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"POST",
            b"\x16\x03\x01\x02\x00",
            b"proxy",
        ] {
            assert_eq!(refusal(start), HeaderRefusal::Missing, "{start:?}");
        }
    }

    #[test]
    fn malformed_and_oversized_headers_are_refused() {
        let malformed: &[(&str, &[u8])] = &[
            (
                "v1 with a field missing",
                b"PROXY TCP4 192.0.2.7 198.51.100.1 40000\r\n",
            ),
            (
                "v1 with an unknown family",
                b"PROXY TCP5 192.0.2.7 198.51.100.1 1 2\r\n",
            ),
            (
                "v1 with a bad address",
                b"PROXY TCP4 192.0.2.300 198.51.100.1 1 2\r\n",
            ),
            (
                "v1 with a bare LF",
                b"PROXY TCP4 192.0.2.7 198.51.100.1 1 2\n",
            ),
            ("v1 misspelt", b"PROXYZ TCP4\r\n"),
            ("v1 with a CR inside", b"PROXY UNKNOWN\rx\r\n"),
            (
                "v2 with a bad signature",
                b"\r\n\r\n\0\r\nQUIZ\n\x21\x11\0\x0c",
            ),
        ];
        for (case, bytes) in malformed {
            assert_eq!(refusal(bytes), HeaderRefusal::Malformed, "{case}");
        }
        let cases = [
            ("v2 with an unknown family", v2(1, 0x41, 12, &IPV4_BLOCK)),
            ("v2 with an unknown command", v2(2, 0x11, 12, &IPV4_BLOCK)),
            (
                "v2 shorter than IPv4 needs",
                v2(1, 0x11, 8, &IPV4_BLOCK[..8]),
            ),
            ("v2 shorter than IPv6 needs", v2(1, 0x21, 12, &IPV4_BLOCK)),
        ];
        for (case, bytes) in &cases {
            assert_eq!(refusal(bytes), HeaderRefusal::Malformed, "{case}");
        }
        let mut version_1 = v2(1, 0x11, 12, &IPV4_BLOCK);
        version_1[12] = 0x11;
        assert_eq!(refusal(&version_1), HeaderRefusal::Malformed);

        let long_v1 = format!("PROXY UNKNOWN {}\r\n", "x".repeat(100));
        assert_eq!(refusal(long_v1.as_bytes()), HeaderRefusal::TooLong);
        assert_eq!(
            refusal(&[b"PROXY ".as_slice(), &[b'1'; 120]].concat()),
            HeaderRefusal::TooLong
        );
        // The bound is said in the length field: refused before the bytes arrive.
        let beyond = v2(1, 0x11, (V2_MAX_PAYLOAD + 1) as u16, &IPV4_BLOCK);
        assert_eq!(refusal(&beyond), HeaderRefusal::TooLong);
        let at_the_bound = [&IPV4_BLOCK[..], &[0; V2_MAX_PAYLOAD - 12]].concat();
        let bytes = v2(0, 0x11, V2_MAX_PAYLOAD as u16, &at_the_bound);
        assert!(matches!(
            parse(&bytes),
            Parsed::Header {
                len: MAX_HEADER_LEN,
                ..
            }
        ));
    }
}
