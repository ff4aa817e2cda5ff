//! The access log: one line per answered request, under the `smol_toy::access` target.

use std::net::SocketAddr;
use std::time::Instant;

use http_types::{Request, StatusCode, Version};
use log::info;

use super::head::RequestMethod;
use super::request_id::RequestId;

/// What the access log line says about a request, gathered before its handler runs.
pub struct AccessLogEntry {
    /// `None` for a request that could not be read.
    method: Option<RequestMethod>,
    path: String,
    version: &'static str,
    received: Instant,
    request_id: RequestId,
}

impl AccessLogEntry {
    /// The entry for `request`, whose head arrived complete at `received`.
    pub fn new(
        method: RequestMethod,
        request: &Request,
        request_id: RequestId,
        received: Instant,
    ) -> Self {
        AccessLogEntry {
            method: Some(method),
            path: request.url().path().to_owned(),
            version: match request.version() {
                Some(Version::Http1_0) => "HTTP/1.0",
                _ => "HTTP/1.1",
            },
            received,
            request_id,
        }
    }

    /// The entry for a request that could not be read.
    pub fn unreadable() -> Self {
        AccessLogEntry {
            method: None,
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
        format!("{} {}", self.method(), self.path)
    }

    fn method(&self) -> &dyn std::fmt::Display {
        match &self.method {
            Some(method) => method,
            None => &"-",
        }
    }

    /// Logs the line: `PEER "METHOD PATH VERSION" STATUS MILLISECONDS REQUEST-ID`.
    pub fn log(&self, peer: SocketAddr, status: StatusCode) {
        info!(
            target: "smol_toy::access",
            "{} \"{} {} {}\" {} {:.3}ms {}",
            peer,
            self.method(),
            self.path,
            self.version,
            u16::from(status),
            self.received.elapsed().as_secs_f64() * 1000.0,
            self.request_id.as_str()
        );
    }
}
