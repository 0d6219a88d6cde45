//! One connection: hyper serves it; the driver around it runs the connection hooks' timer
//! and closes the connection when a hook asks, through the app's close path, or when the
//! server's graceful stop begins.

use std::future::{poll_fn, Future};
use std::os::fd::{AsRawFd, RawFd};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use crate::hook::{ConnState, Expiry, Hook};
use crate::policy::Policy;
use crate::report::{CloseReason, ConnRecord, OpenConnection};
use crate::service::{ConnShared, Handler};

/// Serve one accepted connection under `policy` until it closes; record why in `open`.
pub(crate) async fn serve(stream: TcpStream, policy: Arc<Policy>, open: OpenConnection) {
    let _ = stream.set_nodelay(true);
    let reason = drive(stream, policy, open.record()).await;
    open.record().set_reason(reason);
}

/// Serve the connection; returns why it closes. The socket closes when this returns.
async fn drive(stream: TcpStream, policy: Arc<Policy>, record: &Arc<ConnRecord>) -> CloseReason {
    if let Some(banner) = &policy.server_first {
        return crate::lines::serve(stream, banner, record).await;
    }
    if let Some(status) = policy.preface_answer {
        if opens_with_h2_preface(&stream).await {
            return answer_preface(stream, status).await;
        }
    }
    let fd = stream.as_raw_fd();
    let shared = ConnShared::new(policy.clone(), record.clone());
    let mut timers = Timers::new(&policy, &shared.state);
    let conn =
        http1::Builder::new().serve_connection(TokioIo::new(stream), Handler::new(shared.clone()));
    let mut conn = pin!(conn);
    let mut closing = false;
    let mut stop_begun = policy.graceful.as_ref().map(|g| Box::pin(g.begun()));
    let mut draining: Option<Draining> = None;
    let reason = poll_fn(|cx| loop {
        // Before hyper is polled: a response whose head hyper writes from now on carries
        // `Connection: close`.
        if let Some(begun) = stop_begun.as_mut() {
            if begun.as_mut().poll(cx).is_ready() {
                stop_begun = None;
                draining = Some(Draining {
                    in_flight: shared.state.in_flight(),
                    requests: record.requests(),
                });
                // An idle connection closes now; one serving a request after its response,
                // with `Connection: close` if its head is not written yet.
                conn.as_mut().graceful_shutdown();
            }
        }
        if let Poll::Ready(result) = conn.as_mut().poll(cx) {
            return Poll::Ready(match (&draining, result) {
                (Some(draining), Ok(())) => draining.reason(record),
                (_, result) => classify(result),
            });
        }
        let state = &shared.state;
        if !closing && state.wants_close_now() {
            if policy.close_lag.is_some() {
                // The response went out in the poll above; the close path starts now.
                return Poll::Ready(record.reason().unwrap_or(CloseReason::Lifetime));
            }
            // The response is in hyper's hands and its head is written: keep-alive off
            // now closes the socket once it is flushed, without a `Connection: close`.
            closing = true;
            conn.as_mut().graceful_shutdown();
            continue;
        }
        if let Some(timers) = timers.as_mut() {
            if let Poll::Ready(reason) = timers.poll(cx, &policy.connections, state, record) {
                return Poll::Ready(reason);
            }
        }
        return Poll::Pending;
    })
    .await;
    if let (Some(lag), true) = (policy.close_lag, reason.is_app_close()) {
        // The close path: the connection is no longer read (hyper is not polled), the FIN
        // leaves `lag` later. A request that arrived meanwhile waits unread and the close
        // resets it.
        tokio::time::sleep(lag).await;
        if has_unread_bytes(fd) {
            record.reset_unread();
        }
    }
    reason
}

/// A connection the graceful stop is closing: what it was doing when the stop began.
struct Draining {
    /// A request was being served.
    in_flight: bool,
    /// Requests it had received.
    requests: u64,
}

impl Draining {
    /// Why the connection closed: after a response if it served a request at or after the
    /// start of the stop, idle otherwise.
    fn reason(&self, record: &ConnRecord) -> CloseReason {
        if self.in_flight || record.requests() > self.requests {
            CloseReason::ShutdownAfterResponse
        } else {
            CloseReason::ShutdownIdle
        }
    }
}

/// Whether the socket `fd` has received bytes nobody read yet.
fn has_unread_bytes(fd: RawFd) -> bool {
    let mut byte = 0u8;
    // SAFETY: `fd` is a connected socket owned by the caller for the whole call; `recv`
    // with MSG_PEEK writes at most one byte into `byte` and consumes nothing.
    let n = unsafe {
        libc::recv(
            fd,
            (&raw mut byte).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    n > 0
}

/// The close reason of a connection hyper finished on its own.
/// The first line of HTTP/2's connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n";

/// Whether the client's first bytes are the HTTP/2 preface, read without consuming them.
async fn opens_with_h2_preface(stream: &TcpStream) -> bool {
    let mut buf = [0; H2_PREFACE.len()];
    loop {
        let n = match stream.peek(&mut buf).await {
            Ok(n) => n,
            Err(_) => return false,
        };
        if n == 0 || !H2_PREFACE.starts_with(&buf[..n]) {
            return false;
        }
        if n == H2_PREFACE.len() {
            return true;
        }
        // A part of the line so far: wait for the rest (peek returns at once with what
        // is there).
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

/// How long the app reads what the client still sends after answering the preface.
const LINGER: std::time::Duration = std::time::Duration::from_secs(1);

/// Answer the preface as an HTTP/1.1-only server does: an error response, then a close.
/// The close lingers as nginx's `lingering_close` does: the app sends its FIN and reads
/// what the client had already sent (the rest of its HTTP/2 frames) until the client
/// closes, so the kernel does not reset the connection under the answer.
async fn answer_preface(mut stream: TcpStream, status: http::StatusCode) -> CloseReason {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let reason = status.canonical_reason().unwrap_or("Error");
    let head = format!(
        "HTTP/1.1 {} {reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        status.as_u16()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.shutdown().await;
    let mut sink = [0; 4096];
    let _ = tokio::time::timeout(LINGER, async {
        while let Ok(1..) = stream.read(&mut sink).await {}
    })
    .await;
    CloseReason::Error
}

fn classify(result: hyper::Result<()>) -> CloseReason {
    match result {
        Ok(()) => CloseReason::Peer,
        Err(e) if is_peer_close(&e) => CloseReason::Peer,
        Err(_) => CloseReason::Error,
    }
}

/// Whether hyper's error only says the client went away.
fn is_peer_close(error: &hyper::Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
    if error.is_incomplete_message() {
        return true;
    }
    std::error::Error::source(error)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .is_some_and(|io| {
            matches!(
                io.kind(),
                ConnectionReset | BrokenPipe | ConnectionAborted | UnexpectedEof
            )
        })
}

/// The deadlines of the connection hooks, on one timer.
///
/// The timer may fire early (the connection was used since it was armed): it is then
/// re-armed to the new deadline, so serving a request never touches the timer.
struct Timers {
    sleep: Pin<Box<Sleep>>,
    armed: Option<Instant>,
}

impl Timers {
    /// The timer of a connection, if any hook watches connections.
    fn new(policy: &Policy, state: &ConnState) -> Option<Self> {
        if policy.connections.is_empty() {
            return None;
        }
        let mut timers = Self {
            sleep: Box::pin(tokio::time::sleep_until(state.opened())),
            armed: None,
        };
        if let Some(first) = Self::deadline(&policy.connections, state) {
            timers.sleep.as_mut().reset(first);
            timers.armed = Some(first);
        }
        Some(timers)
    }

    /// The next moment some hook wants to look at the connection.
    fn deadline(hooks: &[Arc<dyn Hook>], state: &ConnState) -> Option<Instant> {
        hooks.iter().filter_map(|h| h.deadline(state)).min()
    }

    /// `Ready(reason)` when the connection must close now.
    fn poll(
        &mut self,
        cx: &mut Context<'_>,
        hooks: &[Arc<dyn Hook>],
        state: &ConnState,
        record: &ConnRecord,
    ) -> Poll<CloseReason> {
        loop {
            if let Some(want) = Self::deadline(hooks, state) {
                if self.armed.is_none_or(|armed| want < armed) {
                    self.sleep.as_mut().reset(want);
                    self.armed = Some(want);
                }
            }
            if self.armed.is_none() {
                return Poll::Pending;
            }
            std::task::ready!(self.sleep.as_mut().poll(cx));
            self.armed = None;
            let now = Instant::now();
            for hook in hooks {
                match hook.expire(state, now) {
                    Expiry::Keep => {}
                    Expiry::CloseNow(reason) => return Poll::Ready(reason),
                    Expiry::CloseAfterResponse(reason) => {
                        record.set_reason(reason);
                        state.close_after_response();
                    }
                }
            }
        }
    }
}
