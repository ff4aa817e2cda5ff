//! The access log: one line per answered request, under the `smol_toy::access` target.

use std::net::SocketAddr;
use std::time::Instant;

use http_types::{StatusCode, Version};
use log::info;

use super::head::Head;

/// What the access log line says about a request, gathered before its handler runs.
pub struct AccessLogEntry {
    method: String,
    path: String,
    version: &'static str,
    received: Instant,
}

impl AccessLogEntry {
    /// The entry for a request whose head arrived complete at `received`.
    pub fn of(head: &Head, received: Instant) -> Self {
        AccessLogEntry {
            method: head.method_token.clone(),
            path: head.request.url().path().to_owned(),
            version: match head.request.version() {
                Some(Version::Http1_0) => "HTTP/1.0",
                _ => "HTTP/1.1",
            },
            received,
        }
    }

    /// The entry for a request that could not be read.
    pub fn unreadable() -> Self {
        AccessLogEntry {
            method: "-".to_owned(),
            path: "-".to_owned(),
            version: "-",
            received: Instant::now(),
        }
    }

    /// The method and path, for other log lines about the request.
    pub fn request(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// Logs the line: `PEER "METHOD PATH VERSION" STATUS MILLISECONDS`.
    pub fn log(&self, peer: SocketAddr, status: StatusCode) {
        info!(
            target: "smol_toy::access",
            "{} \"{} {} {}\" {} {:.3}ms",
            peer,
            self.method,
            self.path,
            self.version,
            u16::from(status),
            self.received.elapsed().as_secs_f64() * 1000.0
        );
    }
}
