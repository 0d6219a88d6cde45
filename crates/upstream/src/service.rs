//! The per-request handler: counts, asks the request hooks what to do, and applies it —
//! answer, delay, close with or after the response, or drop.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::time::Sleep;

use crate::hook::{request_id, ConnState, Decision, RequestInfo, StatusSlot};
use crate::policy::Policy;
use crate::report::ConnRecord;

/// The state one connection's handler shares with its driver and its response bodies.
#[derive(Debug)]
pub(crate) struct ConnShared {
    policy: Arc<Policy>,
    record: Arc<ConnRecord>,
    /// What the driver and the connection hooks see.
    pub(crate) state: ConnState,
    /// This connection's copy of the response body.
    body: Bytes,
    /// Whether every response reports its end to `state` (needed by connection hooks and a
    /// graceful stop).
    track: bool,
}

impl ConnShared {
    /// The shared state of a new connection served under `policy`, counted in `record`.
    pub(crate) fn new(policy: Arc<Policy>, record: Arc<ConnRecord>) -> Arc<Self> {
        Arc::new(Self {
            body: policy.connection_body(),
            track: !policy.connections.is_empty() || policy.graceful.is_some(),
            policy,
            record,
            state: ConnState::new(),
        })
    }

    /// The response the hooks decided on.
    fn respond(self: &Arc<Self>, decision: &Decision) -> Response<ResponseBody> {
        let status = decision.status().unwrap_or(StatusSlot::OK);
        self.record.response(status.slot());
        let close_after = decision.closes_after();
        if let Some(reason) = close_after {
            // The driver closes once this response's body is out.
            self.state.begin();
            self.state.close_after_response();
            self.record.set_reason(reason);
        }
        let done = (self.track || close_after.is_some()).then(|| self.clone());
        let mut response = Response::new(ResponseBody::new(self.body.clone(), done));
        *response.status_mut() = status.code();
        if let Some(reason) = decision.closes_with_header() {
            let close = HeaderValue::from_static("close");
            response.headers_mut().insert(header::CONNECTION, close);
            self.record.set_reason(reason);
        }
        response
    }
}

/// The error that makes hyper close a connection without replying (a dropped request).
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

    fn call(&self, request: Request<Incoming>) -> Respond {
        let shared = &self.shared;
        let policy = &shared.policy;
        let n = shared.record.request();
        if let Some(first) = &policy.first_request {
            first.mark();
        }
        if shared.track {
            shared.state.begin();
        }
        let mut decision = Decision::default();
        if !policy.requests.is_empty() {
            let request = RequestInfo {
                n,
                started: policy.started,
                id: request
                    .headers()
                    .get("x-request-id")
                    .map(|v| request_id(v.as_bytes())),
            };
            for hook in &policy.requests {
                hook.on_request(&request, &mut decision);
            }
        }
        if let Some(reason) = decision.dropped() {
            shared.record.dropped();
            shared.record.set_reason(reason);
            return Respond(State::Dropped);
        }
        match decision.delay() {
            None => Respond(State::Ready(Some(shared.respond(&decision)))),
            Some(delay) => Respond(State::Delayed {
                sleep: Box::pin(tokio::time::sleep(delay)),
                shared: shared.clone(),
                decision,
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
        decision: Decision,
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
            State::Delayed {
                sleep,
                shared,
                decision,
            } => {
                std::task::ready!(sleep.as_mut().poll(cx));
                Poll::Ready(Ok(shared.respond(decision)))
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
            shared.state.end();
        }
    }
}
