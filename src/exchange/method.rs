//! A request's method as sent: one http-types knows, or any other token.

use std::fmt;

use http_types::Method;

/// The method token of a request line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestMethod {
    /// A method http-types knows, spelled exactly as it spells it.
    Known(Method),
    /// Any other token, as sent.
    Unknown(String),
}

impl RequestMethod {
    /// The method, when it is a known one.
    pub fn known(&self) -> Option<Method> {
        match self {
            RequestMethod::Known(method) => Some(*method),
            RequestMethod::Unknown(_) => None,
        }
    }
}

impl fmt::Display for RequestMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestMethod::Known(method) => f.write_str(method.as_ref()),
            RequestMethod::Unknown(token) => f.write_str(token),
        }
    }
}
