//! What answers a request: the application's route, or the server itself
//! (OPTIONS, `OPTIONS *`, 404, 405, 501); and the handler's work on a request.

use std::borrow::Cow;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;

use http_types::headers::ALLOW;
use http_types::{Method, Request, Response, StatusCode};
use smol::future::FutureExt;

use super::errors::error_response;
use crate::handler::{Context, Handler, RouteLabel};

/// Who answers a request.
pub enum Dispatch<E> {
    /// The server itself.
    Server(ServerAnswer),
    /// The application, at this endpoint.
    Handler(E),
}

/// What the server answers itself. Small, so that deciding costs the connection's
/// task no room: the response is built only when it is sent.
pub enum ServerAnswer {
    /// 404: the path does not exist.
    NotFound,
    /// 501: the path does not exist, and the method is not one every server knows.
    NotImplemented,
    /// 204 to OPTIONS, 405 to another method, listing the methods in `Allow`: the
    /// route's, or for `OPTIONS *` those of every route.
    Allow {
        options: bool,
        methods: Cow<'static, [Method]>,
    },
}

impl ServerAnswer {
    /// The response, with a JSON body for the errors.
    pub fn response(self) -> Response {
        match self {
            ServerAnswer::NotFound => error_response(StatusCode::NotFound, None),
            ServerAnswer::NotImplemented => error_response(StatusCode::NotImplemented, None),
            ServerAnswer::Allow { options, methods } => allow_response(options, &methods),
        }
    }
}

/// What a request asks for: a path, or (`OPTIONS *`) the server itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// The path, without its query.
    Path(&'a str),
    /// `*`: only `OPTIONS *` gets this far; its protocol refuses `*` otherwise.
    Asterisk,
}

/// Decides who answers a request with `method` (`None`: not one http-types knows)
/// for `target`, and names its route for the metrics: the route's handler if the
/// route takes the method; otherwise OPTIONS gets 204 with `Allow`, another method
/// on an existing path 405 with `Allow`, and an unknown path 404 (GET, HEAD,
/// OPTIONS) or 501 (any other method, RFC 9110 §9.1).
pub fn dispatch<H: Handler>(
    method: Option<Method>,
    target: Target<'_>,
) -> (RouteLabel, Dispatch<H::Endpoint>) {
    let path = match target {
        Target::Path(path) => path,
        Target::Asterisk => {
            let methods = Cow::Owned(server_methods::<H>());
            return (RouteLabel::Server, Dispatch::Server(allow(method, methods)));
        }
    };
    let Some(index) = H::ROUTES.iter().position(|route| route.path == path) else {
        let answer = match method {
            Some(Method::Get | Method::Head | Method::Options) => ServerAnswer::NotFound,
            _ => ServerAnswer::NotImplemented,
        };
        return (RouteLabel::Unmatched, Dispatch::Server(answer));
    };
    let route = &H::ROUTES[index];
    let decision = match method {
        Some(method) if route.methods.contains(&method) => Dispatch::Handler(route.endpoint),
        method => Dispatch::Server(allow(method, Cow::Borrowed(route.methods))),
    };
    (RouteLabel::Route(index), decision)
}

fn allow(method: Option<Method>, methods: Cow<'static, [Method]>) -> ServerAnswer {
    ServerAnswer::Allow {
        options: method == Some(Method::Options),
        methods,
    }
}

/// The methods of every route, each once, in the order the routes first name them:
/// what `OPTIONS *` lists.
fn server_methods<H: Handler>() -> Vec<Method> {
    let mut methods = Vec::new();
    for method in H::ROUTES.iter().flat_map(|route| route.methods) {
        if !methods.contains(method) {
            methods.push(*method);
        }
    }
    methods
}

/// The answer to OPTIONS (204: there is no content to send, and a 204 says so
/// without a Content-Length to read), or to a method the path does not take (405);
/// both list the allowed methods.
fn allow_response(options: bool, allowed: &[Method]) -> Response {
    let mut response = if options {
        Response::new(StatusCode::NoContent)
    } else {
        error_response(StatusCode::MethodNotAllowed, None)
    };
    response.insert_header(ALLOW, allow_value(allowed));
    response
}

/// `GET, HEAD, OPTIONS`: the path's methods, and OPTIONS, which every path takes.
fn allow_value(allowed: &[Method]) -> String {
    let mut value = String::new();
    for method in allowed.iter().chain([&Method::Options]) {
        if !value.is_empty() {
            value.push_str(", ");
        }
        value.push_str(method.as_ref());
    }
    value
}

/// The handler's response, or what it panicked with.
pub type Answered = Result<Response, Box<dyn std::any::Any + Send>>;

/// A handler's work on one request. Boxed: a connection holds several (pipelined
/// requests, HTTP/2 streams), and a request that is not waiting takes no room.
pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Answered> + Send + 'a>>;

/// Starts the handler on a request, catching a panic so that it costs the request,
/// not the worker.
pub fn call<'a, H: Handler>(
    handler: &'a H,
    endpoint: H::Endpoint,
    request: Request,
    context: Context<'a>,
) -> HandlerFuture<'a> {
    Box::pin(AssertUnwindSafe(handler.respond(endpoint, request, context)).catch_unwind())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::Route;

    struct OneRoute;

    impl Handler for OneRoute {
        type Endpoint = ();

        const ROUTES: &'static [Route<()>] = &[
            Route {
                path: "/r",
                endpoint: (),
                methods: &[Method::Get],
            },
            Route {
                path: "/w",
                endpoint: (),
                methods: &[Method::Head, Method::Get],
            },
        ];

        async fn respond(&self, _: (), _: Request, _: Context<'_>) -> Response {
            Response::new(StatusCode::Ok)
        }
    }

    /// The status the server answers a request line with, or `None` for the handler.
    fn answer(head: &str) -> Option<(u16, Option<String>)> {
        let (token, rest) = head.split_once(' ').unwrap();
        // Method tokens are case-sensitive (RFC 9110 §9.1): `get` is not GET.
        let method = token.parse::<Method>().ok().filter(|m| m.as_ref() == token);
        let target = match rest.split(' ').next().unwrap() {
            "*" => Target::Asterisk,
            target => Target::Path(target.split('?').next().unwrap()),
        };
        match dispatch::<OneRoute>(method, target).1 {
            Dispatch::Handler(()) => None,
            Dispatch::Server(answer) => {
                let response = answer.response();
                Some((
                    response.status().into(),
                    response
                        .header(ALLOW)
                        .map(|allow| allow.as_str().to_owned()),
                ))
            }
        }
    }

    #[test]
    fn the_handler_gets_only_its_methods_on_its_paths() {
        let allow = Some("GET, OPTIONS".to_owned());
        assert_eq!(answer("GET /r HTTP/1.1\r\nHost: t\r\n\r\n"), None);
        assert_eq!(answer("GET /r?q HTTP/1.1\r\nHost: t\r\n\r\n"), None);
        assert_eq!(
            answer("OPTIONS /r HTTP/1.1\r\nHost: t\r\n\r\n"),
            Some((204, allow.clone()))
        );
        assert_eq!(
            answer("HEAD /r HTTP/1.1\r\nHost: t\r\n\r\n"),
            Some((405, allow.clone()))
        );
        assert_eq!(
            answer("get /r HTTP/1.1\r\nHost: t\r\n\r\n"),
            Some((405, allow))
        );
        assert_eq!(
            answer("OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n"),
            // Every route's methods, each once.
            Some((204, Some("GET, HEAD, OPTIONS".to_owned())))
        );
    }

    #[test]
    fn unknown_paths_get_404_or_501_by_method() {
        for (method, status) in [("GET", 404), ("POST", 501), ("get", 501), ("BREW", 501)] {
            let head = format!("{method} /x HTTP/1.1\r\nHost: t\r\n\r\n");
            assert_eq!(answer(&head), Some((status, None)), "{method}");
        }
    }

    #[test]
    fn allow_lists_options_last() {
        assert_eq!(
            allow_value(&[Method::Get, Method::Head]),
            "GET, HEAD, OPTIONS"
        );
    }
}
