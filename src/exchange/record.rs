//! One request, from its head's arrival to its response: what the metrics and the
//! access log record about it.

use std::time::Instant;

use http_types::{Request, StatusCode};

use super::access_log::{self, AccessLog, LoggedRequest, Outcome};
use super::method::RequestMethod;
use super::request::ReadRequest;
use super::request_id::RequestId;
use crate::connection::Protocol;
use crate::handler::RouteLabel;
use crate::metrics::{InFlight, Metrics};
use crate::transport::{Peer, Security};

/// The connection that carried a request: what its exchange records, and what
/// its answer's fields depend on. Each connection makes one, for all its requests.
#[derive(Debug, Clone, Copy)]
pub struct Carrier<'p> {
    /// Who sent it.
    pub peer: &'p Peer,
    /// Over what.
    pub security: Security,
    /// In which protocol.
    pub protocol: Protocol,
}

/// A request being answered. It counts as in flight until dropped.
pub struct Exchange<'a> {
    /// `None` for a request that could not be read.
    method: Option<RequestMethod>,
    route: RouteLabel,
    received: Instant,
    request_id: RequestId,
    protocol: Protocol,
    /// What the access line will say; `None` while access lines are off.
    /// Boxed: every waiting connection's task holds an exchange, and most servers
    /// under load run with access lines off.
    logged: Option<Box<LoggedRequest>>,
    metrics: &'a Metrics,
    _in_flight: InFlight<'a>,
}

impl<'a> Exchange<'a> {
    /// Starts the record of `read`, dispatched to `route`, recorded in `metrics` and
    /// in the access log if it is on. Keeps what it records (the method, the id) and
    /// hands back the request, for whoever answers it.
    pub fn new(
        read: ReadRequest,
        route: RouteLabel,
        received: Instant,
        carrier: Carrier<'_>,
        metrics: &'a Metrics,
        access_log: Option<&AccessLog>,
    ) -> (Self, Request) {
        let ReadRequest {
            request,
            method,
            request_id,
            ..
        } = read;
        let exchange = Exchange {
            logged: access_log
                .map(|log| Box::new(log.describe(&request, carrier.peer, carrier.security))),
            method: Some(method),
            route,
            received,
            request_id,
            protocol: carrier.protocol,
            metrics,
            _in_flight: metrics.request_started(),
        };
        (exchange, request)
    }

    /// A request that could not be read.
    pub fn unreadable(
        carrier: Carrier<'_>,
        metrics: &'a Metrics,
        access_log: Option<&AccessLog>,
    ) -> Self {
        let Carrier {
            peer,
            security,
            protocol,
        } = carrier;
        Exchange {
            logged: access_log.map(|_| Box::new(AccessLog::unreadable(peer, security))),
            method: None,
            route: RouteLabel::Invalid,
            received: Instant::now(),
            request_id: RequestId::generate(),
            protocol,
            metrics,
            _in_flight: metrics.request_started(),
        }
    }

    /// The request's id, which its response carries.
    pub fn request_id(&self) -> &RequestId {
        &self.request_id
    }

    /// Records the response to `peer`, with `body_bytes` bytes of body, as handed
    /// to the connection now: the end of the exchange's record, which [`Shared::begin`]
    /// (or [`Shared::refuse`]) opened; it is out of flight once dropped.
    ///
    /// [`Shared::begin`]: crate::shared::Shared::begin
    /// [`Shared::refuse`]: crate::shared::Shared::refuse
    pub fn answered(&self, peer: &Peer, status: StatusCode, body_bytes: usize) {
        let duration = self.received.elapsed();
        let method = self.method.as_ref().and_then(RequestMethod::known);
        self.metrics
            .request_answered(self.route, method, status, duration, self.protocol);
        if let Some(logged) = &self.logged {
            let outcome = Outcome {
                status: status.into(),
                body_bytes,
                duration,
            };
            access_log::log(
                logged,
                self.method.as_ref(),
                &self.request_id,
                peer,
                &outcome,
            );
        }
    }
}
