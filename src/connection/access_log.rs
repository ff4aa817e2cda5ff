//! The access log: one line per answered request, under the `smol_toy::access` target.

use std::fmt;
use std::net::SocketAddr;
use std::time::Instant;

use http_types::{Method, StatusCode, Version};
use log::info;

use super::head::Head;
use super::request_id::RequestId;

/// What the access log line says about a request, gathered before its handler runs.
pub struct AccessLogEntry {
    method: LoggedMethod,
    path: String,
    version: &'static str,
    received: Instant,
    request_id: RequestId,
}

impl AccessLogEntry {
    /// The entry for a request whose head arrived complete at `received`.
    pub fn of(head: &Head, received: Instant) -> Self {
        AccessLogEntry {
            method: match (head.method, &head.unknown_method) {
                (Some(known), _) => LoggedMethod::Known(known),
                (None, Some(unknown)) => LoggedMethod::Unknown(unknown.clone()),
                (None, None) => LoggedMethod::Unreadable,
            },
            path: head.request.url().path().to_owned(),
            version: match head.request.version() {
                Some(Version::Http1_0) => "HTTP/1.0",
                _ => "HTTP/1.1",
            },
            received,
            request_id: head.request_id.clone(),
        }
    }

    /// The entry for a request that could not be read.
    pub fn unreadable() -> Self {
        AccessLogEntry {
            method: LoggedMethod::Unreadable,
            path: "-".to_owned(),
            version: "-",
            received: Instant::now(),
            request_id: RequestId::generate(),
        }
    }

    /// The request's id, which its response carries.
    pub fn request_id(&self) -> &RequestId {
        &self.request_id
    }

    /// The method and path, for other log lines about the request.
    pub fn request(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// Logs the line: `PEER "METHOD PATH VERSION" STATUS MILLISECONDS REQUEST-ID`.
    pub fn log(&self, peer: SocketAddr, status: StatusCode) {
        info!(
            target: "smol_toy::access",
            "{} \"{} {} {}\" {} {:.3}ms {}",
            peer,
            self.method,
            self.path,
            self.version,
            u16::from(status),
            self.received.elapsed().as_secs_f64() * 1000.0,
            self.request_id.as_str()
        );
    }
}

/// The method as the log shows it; a known one costs no allocation.
enum LoggedMethod {
    Known(Method),
    Unknown(String),
    Unreadable,
}

impl fmt::Display for LoggedMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoggedMethod::Known(method) => f.write_str(method.as_ref()),
            LoggedMethod::Unknown(method) => f.write_str(method),
            LoggedMethod::Unreadable => f.write_str("-"),
        }
    }
}
