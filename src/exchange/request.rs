//! A request as its protocol read it: what every protocol hands over to be answered.

use http_types::Request;

use super::dispatch::Target;
use super::method::RequestMethod;
use super::request_id::RequestId;

/// A request read and checked by its protocol, ready to be dispatched.
#[derive(Debug)]
pub struct ReadRequest {
    /// The request as the handler gets it (its body is empty).
    pub request: Request,
    /// The method as sent. The request carries it when it is known; otherwise the
    /// request carries GET in its place, and only 405 or 501 can be answered.
    pub method: RequestMethod,
    /// The target was `*` (`OPTIONS *`; the request carries `/` in its place).
    pub asterisk: bool,
    /// The client's `X-Request-Id` if it sent one usable id, else a fresh one.
    pub request_id: RequestId,
}

impl ReadRequest {
    /// What the request asks for, for dispatch.
    pub fn target(&self) -> Target<'_> {
        match self.asterisk {
            true => Target::Asterisk,
            false => Target::Path(self.request.url().path()),
        }
    }
}
