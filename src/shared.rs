//! What every connection of a server shares: the application, the limits, the
//! shutdown switches, the metrics, the access log's settings and the timing wheels.

use std::cell::RefCell;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Poll, ready};
use std::time::{Duration, Instant};

use http_types::{Response, StatusCode};
use log::debug;
use smol::future::FutureExt;
use smol::io::AsyncRead;

use crate::connection::Protocol;
use crate::exchange::answer::{self, Work};
use crate::exchange::dispatch::{self, Answered, Dispatch, dispatch};
use crate::exchange::fields::{AnswerFields, is_writable};
use crate::exchange::refusal::HttpError;
use crate::exchange::sendable::Unsendable;
use crate::exchange::{AccessLog, Carrier, Exchange, ReadRequest};
use crate::handler::{Context, Handler, Services};
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;
use crate::timing_wheel::TimingWheel;

/// How long a closing connection keeps reading what the client still sends, so that
/// unread bytes do not make the kernel reset the connection before the client has
/// read the response.
pub const LINGER_TIMEOUT: Duration = Duration::from_secs(2);

/// The most bytes read and dropped while lingering.
const LINGER_MAX_BYTES: usize = 256 * 1024;

/// The largest request body no route reads that is read and dropped before the
/// answer: over HTTP/1, to keep the connection open (after a larger one, or a
/// chunked one, it closes); over HTTP/2, so that the stream ends as the client
/// ended it (a larger one is reset once answered).
pub const MAX_SKIPPED_BODY: u64 = 64 * 1024;

/// A turn of the application's wheel: a longer wait is woken once a turn to find it
/// is not due, and waits on.
const APPLICATION_TIMER_TURN: Duration = Duration::from_secs(2);

/// Reads what the client still sends on a closing connection, and drops it, until
/// it closes, for `LINGER_TIMEOUT` at most and `LINGER_MAX_BYTES`, so that unread
/// bytes (a pipelined request, a PING's answer, a WINDOW_UPDATE) do not make the
/// kernel reset the connection before the client has read the last answer. The
/// bytes land in a buffer of the thread's, never held across a wait.
pub async fn linger<S: AsyncRead + Unpin>(stream: &mut S, timeouts: &TimingWheel) {
    thread_local! {
        static DROPPED: RefCell<Box<[u8; 4096]>> = RefCell::new(Box::new([0; 4096]));
    }
    let mut read = 0;
    let drain = poll_fn(|cx| {
        while read < LINGER_MAX_BYTES {
            let poll =
                DROPPED.with_borrow_mut(|buf| Pin::new(&mut *stream).poll_read(cx, &mut buf[..]));
            match ready!(poll) {
                Ok(0) | Err(_) => break,
                Ok(n) => read += n,
            }
        }
        Poll::Ready(())
    });
    let deadline = Instant::now() + LINGER_TIMEOUT;
    timeouts.run_until(Some(deadline), drain).await;
}

/// The limits and timeouts every connection observes.
#[derive(Debug, Clone)]
pub struct Limits {
    /// How long a head may take once its first byte has arrived; also how long an
    /// unread request body may take to arrive after its head.
    pub header_timeout: Duration,
    /// How long a connection may sit idle between requests.
    pub keep_alive_timeout: Duration,
    /// How long writing one response may take.
    pub write_timeout: Duration,
    /// The largest head accepted, in bytes; a stream protocol's header list size.
    pub max_head_size: usize,
    /// The most request streams a client of a stream protocol may have open at
    /// once on one connection.
    pub max_concurrent_streams: u32,
    /// How late the application's waits may end (the tick of their wheel), so that
    /// the waits that end in one tick share one wake-up; zero for exact timers.
    pub timer_slack: Duration,
}

impl Limits {
    /// A timing wheel for these limits: ticks of 1/20 of the shortest of the header
    /// and keep-alive timeouts (at most 100 ms), a turn as long as the longest wait.
    fn timeouts_wheel(&self) -> TimingWheel {
        let shortest = self.header_timeout.min(self.keep_alive_timeout);
        let longest = (self.header_timeout.max(self.keep_alive_timeout)).max(LINGER_TIMEOUT);
        TimingWheel::new(shortest, longest)
    }
}

/// What a connection's state reads of the server, whatever the protocol.
#[derive(Debug)]
pub struct ConnectionRules {
    /// Limits and timeouts.
    pub(crate) limits: Limits,
    /// Set when a shutdown is asked for (the first signal): from then on every
    /// answer closes its connection (HTTP/1's `Connection: close`), and `/readyz`
    /// fails.
    pub(crate) shutdown_requested: Shutdown,
    /// Set when the server stops accepting, after the shutdown delay: from then on
    /// connections idle between requests close.
    pub(crate) accepting_stopped: Shutdown,
}

impl ConnectionRules {
    /// Whether a shutdown has been asked for.
    pub fn shutting_down(&self) -> bool {
        self.shutdown_requested.is_triggered()
    }
}

/// What every connection task shares.
#[derive(Debug)]
pub struct Shared<H> {
    /// The application.
    pub(crate) handler: H,
    /// The limits, timeouts and shutdown switches a connection's state reads.
    pub(crate) rules: ConnectionRules,
    /// What the server counts.
    pub(crate) metrics: Metrics,
    /// The access log's settings; `None` while access lines are off.
    pub(crate) access_log: Option<AccessLog>,
    /// The timing wheel for the header, keep-alive and linger timeouts; swept by
    /// [`Shared::sweep_wheels`].
    pub(crate) timeouts: TimingWheel,
    /// The timing wheel for the application's waits ([`Context::sleep_until`]);
    /// swept by [`Shared::sweep_wheels`] too.
    pub(crate) app_timers: TimingWheel,
    /// The `Strict-Transport-Security` value every response over HTTPS carries;
    /// `None` for none.
    pub(crate) hsts: Option<String>,
    /// The `Alt-Svc` value every response over HTTPS on TCP carries while HTTP/3
    /// is served; `None` for none.
    pub(crate) alt_svc: Option<String>,
}

impl<H: Handler> Shared<H> {
    /// What the connections of a server for `handler` share; `shutdown_requested`
    /// is the switch a signal (or a test) triggers.
    ///
    /// Panics if `H::RESPONSE_FIELDS` holds a field that cannot be written as it is:
    /// a mistake in the application's code, found at start-up.
    pub fn new(
        handler: H,
        limits: Limits,
        metrics: Metrics,
        access_log: Option<AccessLog>,
        shutdown_requested: Shutdown,
    ) -> Self {
        for (name, value) in H::RESPONSE_FIELDS {
            let writable = is_writable(name, value);
            assert!(
                writable,
                "Handler::RESPONSE_FIELDS: cannot write {name:?}: {value:?}"
            );
        }
        Shared {
            handler,
            timeouts: limits.timeouts_wheel(),
            app_timers: TimingWheel::with_tick(limits.timer_slack, APPLICATION_TIMER_TURN),
            rules: ConnectionRules {
                limits,
                shutdown_requested,
                accepting_stopped: Shutdown::new(),
            },
            metrics,
            access_log,
            hsts: None,
            alt_svc: None,
        }
    }

    /// Starts answering a request its protocol has read, which arrived `at` over
    /// `carrier`: decides who answers it, opens its exchange (in flight from now,
    /// for the metrics and the access log), and for the application makes the
    /// handler's future (not yet polled). [`Shared::answer`] ends it.
    pub fn begin(
        &self,
        read: ReadRequest,
        at: Instant,
        carrier: Carrier<'_>,
    ) -> (Exchange<'_>, Work<'_>) {
        let (route, decision) = dispatch::<H>(read.method.known(), read.target());
        let access_log = self.access_log.as_ref();
        let (exchange, request) =
            Exchange::new(read, route, at, carrier, &self.metrics, access_log);
        let work = match decision {
            Dispatch::Server(answer) => Work::Server(answer),
            Dispatch::Handler(endpoint) => Work::Handler(dispatch::call(
                &self.handler,
                endpoint,
                request,
                self.context(),
            )),
        };
        (exchange, work)
    }

    /// Starts answering what came over `carrier` and could not be read as a
    /// request, or broke a rule: its exchange, and the error as its answer.
    pub fn refuse(&self, error: HttpError, carrier: Carrier<'_>) -> (Exchange<'_>, Work<'_>) {
        let protocol = carrier.protocol.label();
        debug!(
            "{}: {} on {protocol} ({})",
            carrier.peer,
            error.status(),
            error.detail
        );
        let access_log = self.access_log.as_ref();
        let exchange = Exchange::unreadable(carrier, &self.metrics, access_log);
        (exchange, Work::Refused(error))
    }

    /// What `exchange`, over `carrier`, was answered, turned by `send` into what its
    /// protocol sends, with the fields every answer carries; 500 after a handler's
    /// panic, or for a response that cannot be sent ([`answer::respond`]). Returns
    /// the status sent and what `send` made. The exchange ends when its protocol
    /// has sent the answer: [`Exchange::answered`].
    #[inline]
    pub fn answer<T>(
        &self,
        exchange: &Exchange<'_>,
        carrier: Carrier<'_>,
        answered: Answered,
        send: impl FnMut(&mut Response, &AnswerFields<'_>, bool) -> Result<T, Unsendable>,
    ) -> Result<(StatusCode, T), Unsendable> {
        let fields = AnswerFields {
            request_id: exchange.request_id(),
            every_answer: H::RESPONSE_FIELDS,
            hsts: carrier.security.tls_version().and(self.hsts.as_deref()),
            alt_svc: match carrier.protocol {
                Protocol::Http3 => None,
                _ => carrier.security.tls_version().and(self.alt_svc.as_deref()),
            },
        };
        answer::respond(answered, carrier.peer, &fields, send)
    }

    /// What a handler may use of the server, for a request that arrives now.
    pub(crate) fn context(&self) -> Context<'_> {
        Context::new(self, self.rules.shutting_down())
    }

    /// Sweeps both timing wheels, the connections' and the application's: must run
    /// beside the connections. Runs until dropped.
    pub async fn sweep_wheels(&self) {
        self.timeouts.sweep().or(self.app_timers.sweep()).await;
    }

    /// Makes every response over HTTPS carry `Strict-Transport-Security` with this
    /// `max-age`, in seconds; 0 for none.
    pub fn with_hsts(mut self, max_age: u64) -> Self {
        self.hsts = (max_age > 0).then(|| format!("max-age={max_age}"));
        self
    }

    /// Makes every response over HTTPS on TCP say that HTTP/3 is served on UDP
    /// `port` (of the same host), for a day (RFC 7838); `None` for none.
    pub fn with_alt_svc(mut self, port: Option<u16>) -> Self {
        self.alt_svc = port.map(|port| format!("h3=\":{port}\"; ma=86400"));
        self
    }
}

impl<H: Handler> Services for Shared<H> {
    fn app_timers(&self) -> &TimingWheel {
        &self.app_timers
    }

    fn render_metrics(&self) -> String {
        self.metrics.render()
    }
}
