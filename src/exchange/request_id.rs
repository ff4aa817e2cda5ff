//! The request id every response carries in `X-Request-Id` and the access log
//! shows: the client's (or a proxy's, such as nginx's `$request_id`) when it is
//! usable, else a fresh one.

/// The longest client-sent request id that is kept.
const MAX_LENGTH: usize = 128;

/// An id of 1 to 128 visible ASCII characters, without spaces or quotes, so that it
/// can go into a header and a log line as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(Repr);

/// A fresh id is held inline: making and copying one allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Repr {
    Fresh([u8; 32]),
    Client(Box<str>),
}

impl RequestId {
    /// The client's id, if it is one: 1 to 128 visible ASCII characters other
    /// than `"` and `'`.
    pub fn from_client(value: &[u8]) -> Option<Self> {
        let usable = (1..=MAX_LENGTH).contains(&value.len())
            && value
                .iter()
                .all(|&b| b.is_ascii_graphic() && b != b'"' && b != b'\'');
        let text = std::str::from_utf8(value).ok().filter(|_| usable)?;
        Some(RequestId(Repr::Client(text.into())))
    }

    /// A fresh id: 32 random hex digits, like nginx's `$request_id`.
    pub fn generate() -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut bits = fastrand::u128(..);
        let mut digits = [0; 32];
        for digit in &mut digits {
            *digit = HEX[(bits & 0xf) as usize];
            bits >>= 4;
        }
        RequestId(Repr::Fresh(digits))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Fresh(digits) => std::str::from_utf8(digits).expect("hex digits are ASCII"),
            Repr::Client(id) => id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_usable_client_id_is_kept_as_sent() {
        for id in ["a", "abc-123_X.y:z/=", &"x".repeat(128)] {
            let kept = RequestId::from_client(id.as_bytes()).expect("usable");
            assert_eq!(kept.as_str(), id);
        }
    }

    #[test]
    fn an_unusable_client_id_is_refused() {
        let too_long = "x".repeat(129);
        for id in [
            "",
            "a b",
            "a\"b",
            "a'b",
            "a\tb",
            "a\u{e9}",
            too_long.as_str(),
        ] {
            assert_eq!(RequestId::from_client(id.as_bytes()), None, "{id:?}");
        }
        assert_eq!(RequestId::from_client(b"a\r\nb"), None);
    }

    #[test]
    fn generated_ids_are_32_hex_digits_and_differ() {
        let first = RequestId::generate();
        assert_eq!(first.as_str().len(), 32);
        assert!(first.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
        let ids: std::collections::HashSet<String> = (0..1000)
            .map(|_| RequestId::generate().as_str().to_owned())
            .collect();
        assert_eq!(ids.len(), 1000);
    }
}
