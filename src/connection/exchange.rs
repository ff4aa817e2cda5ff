//! One request, from its head's arrival to its response: what the metrics and the
//! access log record about it.

use std::time::Instant;

use http_types::{Request, StatusCode};

use super::Shared;
use super::access_log::{self, AccessLog, Answer, LoggedRequest};
use super::head::RequestMethod;
use super::request_id::RequestId;
use super::transport::Peer;
use crate::metrics::{InFlight, Metrics, RouteLabel};

/// A request being answered. It counts as in flight until dropped.
pub struct Exchange<'a> {
    /// `None` for a request that could not be read.
    method: Option<RequestMethod>,
    route: RouteLabel,
    received: Instant,
    request_id: RequestId,
    /// What the access line will say; `None` while access lines are off.
    /// Boxed: every waiting connection's task holds an exchange, and most servers
    /// under load run with access lines off.
    logged: Option<Box<LoggedRequest>>,
    metrics: &'a Metrics,
    _in_flight: InFlight<'a>,
}

impl<'a> Exchange<'a> {
    /// `request`, whose head arrived complete at `received` from `peer`, with the
    /// method and id read off its head.
    pub fn new<H>(
        request: &Request,
        method: RequestMethod,
        request_id: RequestId,
        route: RouteLabel,
        received: Instant,
        peer: Peer,
        shared: &'a Shared<H>,
    ) -> Self {
        let metrics = &shared.metrics;
        Exchange {
            logged: (shared.access_log.as_ref()).map(|log| Box::new(log.describe(request, peer))),
            method: Some(method),
            route,
            received,
            request_id,
            metrics,
            _in_flight: metrics.request_started(),
        }
    }

    /// A request from `peer` that could not be read.
    pub fn unreadable<H>(peer: Peer, shared: &'a Shared<H>) -> Self {
        let metrics = &shared.metrics;
        Exchange {
            logged: (shared.access_log.as_ref()).map(|_| Box::new(AccessLog::unreadable(peer))),
            method: None,
            route: RouteLabel::Invalid,
            received: Instant::now(),
            request_id: RequestId::generate(),
            metrics,
            _in_flight: metrics.request_started(),
        }
    }

    /// The request's id, which its response carries.
    pub fn request_id(&self) -> &RequestId {
        &self.request_id
    }

    /// Records the response, of `bytes` bytes, as handed to the connection now.
    pub fn answered(&self, peer: Peer, status: StatusCode, bytes: usize) {
        let duration = self.received.elapsed();
        let method = self.method.as_ref().and_then(RequestMethod::known);
        self.metrics
            .request_answered(self.route, method, status, duration);
        if let Some(logged) = &self.logged {
            let answer = Answer {
                status: status.into(),
                bytes,
                duration,
            };
            access_log::log(
                logged,
                self.method.as_ref(),
                &self.request_id,
                peer,
                &answer,
            );
        }
    }
}
