//! The per-request handler: counts, injected statuses, delays, and the recycle signals
//! it hands to the connection driver.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::policy::{CloseMode, Policy};
use crate::report::{CloseReason, ConnRecord};

/// What the handler tells the connection driver. Written and read by one task only.
#[derive(Debug)]
pub(crate) struct Signals {
    /// When the connection was accepted.
    pub(crate) opened: Instant,
    /// A request has been received and its response not yet fully handed to hyper.
    in_flight: AtomicBool,
    /// Nanoseconds after `opened` at which the last response was handed to hyper.
    last_done_ns: AtomicU64,
    /// Close the connection once the current response is out, without notice.
    close_after_response: AtomicBool,
}

impl Signals {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            in_flight: AtomicBool::new(false),
            last_done_ns: AtomicU64::new(0),
            close_after_response: AtomicBool::new(false),
        }
    }

    /// Whether a request is being served.
    pub(crate) fn in_flight(&self) -> bool {
        self.in_flight.load(Relaxed)
    }

    /// When the connection last became idle (its opening, if it never served a request).
    pub(crate) fn idle_since(&self) -> Instant {
        self.opened + std::time::Duration::from_nanos(self.last_done_ns.load(Relaxed))
    }

    /// Ask for the connection to close once the current response is out.
    pub(crate) fn close_after_response(&self) {
        self.close_after_response.store(true, Relaxed);
    }

    /// Whether the connection should close now: a close was asked for and no response is pending.
    pub(crate) fn wants_close_now(&self) -> bool {
        self.close_after_response.load(Relaxed) && !self.in_flight()
    }

    fn begin(&self) {
        self.in_flight.store(true, Relaxed);
    }

    fn end(&self) {
        let ns = self.opened.elapsed().as_nanos() as u64;
        self.last_done_ns.store(ns, Relaxed);
        self.in_flight.store(false, Relaxed);
    }
}

/// The state one connection's handler shares with its driver and its response bodies.
#[derive(Debug)]
pub(crate) struct ConnShared {
    policy: Arc<Policy>,
    record: Arc<ConnRecord>,
    /// Signals to the driver.
    pub(crate) signals: Signals,
    /// This connection's copy of the response body.
    body: Bytes,
    /// Whether responses report their end to `signals` (needed by timers and abrupt closes).
    track: bool,
}

impl ConnShared {
    /// The shared state of a new connection served under `policy`, counted in `record`.
    pub(crate) fn new(policy: Arc<Policy>, record: Arc<ConnRecord>) -> Arc<Self> {
        let track = policy.needs_timer()
            || (policy.max_requests.is_some() && policy.close_mode == CloseMode::Abrupt);
        Arc::new(Self {
            body: policy.connection_body(),
            policy,
            record,
            signals: Signals::new(),
            track,
        })
    }

    /// The response to request number `n` of this connection.
    fn respond(self: &Arc<Self>, n: u64) -> Response<ResponseBody> {
        let slot = self.policy.pick_status();
        self.record.response(slot);
        let done = self.track.then(|| self.clone());
        let mut response = Response::new(ResponseBody::new(self.body.clone(), done));
        *response.status_mut() = self.policy.status_code(slot);
        if self.policy.max_requests.is_some_and(|max| n >= max) {
            match self.policy.close_mode {
                CloseMode::Graceful => {
                    let close = HeaderValue::from_static("close");
                    response.headers_mut().insert(header::CONNECTION, close);
                    self.record.set_reason(CloseReason::MaxRequests);
                }
                CloseMode::Abrupt => {
                    self.signals.close_after_response();
                    self.record.set_reason(CloseReason::MaxRequests);
                }
                CloseMode::Drop => {}
            }
        }
        response
    }
}

/// The error that makes hyper close a connection without replying (`--close-mode drop`).
#[derive(Debug, thiserror::Error)]
#[error("request dropped without a response")]
pub(crate) struct Dropped;

/// The hyper service of one connection.
#[derive(Debug)]
pub(crate) struct Handler {
    shared: Arc<ConnShared>,
}

impl Handler {
    /// A handler answering from `shared`.
    pub(crate) fn new(shared: Arc<ConnShared>) -> Self {
        Self { shared }
    }
}

impl hyper::service::Service<Request<Incoming>> for Handler {
    type Response = Response<ResponseBody>;
    type Error = Dropped;
    type Future = Respond;

    fn call(&self, _request: Request<Incoming>) -> Respond {
        let shared = &self.shared;
        let n = shared.record.request();
        if let Some(first) = &shared.policy.first_request {
            first.mark();
        }
        if shared.track {
            shared.signals.begin();
        }
        let policy = &shared.policy;
        if policy.close_mode == CloseMode::Drop && policy.max_requests.is_some_and(|max| n > max) {
            shared.record.dropped();
            shared.record.set_reason(CloseReason::MaxRequests);
            return Respond(State::Dropped);
        }
        match policy.pick_delay() {
            None => Respond(State::Ready(Some(shared.respond(n)))),
            Some(delay) => Respond(State::Delayed {
                sleep: Box::pin(tokio::time::sleep(delay)),
                shared: shared.clone(),
                n,
            }),
        }
    }
}

/// The future of one response.
pub(crate) struct Respond(State);

enum State {
    Ready(Option<Response<ResponseBody>>),
    Delayed {
        sleep: Pin<Box<Sleep>>,
        shared: Arc<ConnShared>,
        n: u64,
    },
    Dropped,
}

impl Future for Respond {
    type Output = Result<Response<ResponseBody>, Dropped>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().0 {
            State::Ready(response) => {
                Poll::Ready(Ok(response.take().expect("polled after completion")))
            }
            State::Delayed { sleep, shared, n } => {
                std::task::ready!(sleep.as_mut().poll(cx));
                Poll::Ready(Ok(shared.respond(*n)))
            }
            State::Dropped => Poll::Ready(Err(Dropped)),
        }
    }
}

/// A response body that tells the driver when hyper is done with it.
#[derive(Debug)]
pub(crate) struct ResponseBody {
    data: Option<Bytes>,
    done: Option<Arc<ConnShared>>,
}

impl ResponseBody {
    fn new(data: Bytes, done: Option<Arc<ConnShared>>) -> Self {
        let data = (!data.is_empty()).then_some(data);
        Self { data, done }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.get_mut().data.take().map(|d| Ok(Frame::data(d))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        if let Some(shared) = &self.done {
            shared.signals.end();
        }
    }
}
