//! The contract between the server core and the faults.
//!
//! Each fault (see [`crate::faults`]) turns its parameters into one [`Hook`] when the server
//! starts. The core then calls the hooks at fixed points — when a request arrives, when a
//! connection's timer fires, when the app closes a connection on its own, when the listener
//! schedule is set up — and applies what they decide. A fault only says *what* to do; how a
//! connection is closed, how a response is held back or how the listener goes away is the
//! core's business, the same for every fault. A new fault is a new hook: the core does not
//! change.

use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use http::StatusCode;
use tokio::time::Instant;

use crate::report::CloseReason;

/// The behaviour of one fault, as the server core calls it.
///
/// Every method has a default that does nothing. [`Hook::uses`] says which of the per-request
/// and per-connection calls the core must make; the others ([`Hook::close_lag`],
/// [`Hook::shutdown_delay`], [`Hook::graceful_shutdown`], [`Hook::down_windows`],
/// [`Hook::preface_answer`], [`Hook::server_first`]) are asked
/// once, when the server starts.
pub(crate) trait Hook: Debug + Send + Sync {
    /// Which per-request and per-connection calls this hook needs.
    fn uses(&self) -> Uses;

    /// A request arrived (with [`Uses::requests`]): decide its fate in `decision` — an answer,
    /// a delay, a close with or after the response, or a drop without any response.
    /// Hooks are called in registry order and see what earlier hooks decided.
    fn on_request(&self, _request: &RequestInfo, _decision: &mut Decision) {}

    /// The next moment this hook wants to look at the connection (with
    /// [`Uses::connections`]), or `None` while it has nothing to wait for. Asked whenever the
    /// connection makes progress; the earliest deadline of all hooks arms the connection's
    /// one timer.
    fn deadline(&self, _conn: &ConnState) -> Option<Instant> {
        None
    }

    /// The connection's timer fired at `now` (with [`Uses::connections`]): what to do.
    fn expire(&self, _conn: &ConnState, _now: Instant) -> Expiry {
        Expiry::Keep
    }

    /// The lag of the app's close path: when the app closes a connection on its own, it stops
    /// reading it at once and sends the FIN this much later. The longest lag of all hooks
    /// applies.
    fn close_lag(&self) -> Option<Duration> {
        None
    }

    /// How long the app keeps serving after SIGTERM before it stops. The longest of all
    /// hooks applies.
    fn shutdown_delay(&self) -> Option<Duration> {
        None
    }

    /// The timeout of a graceful stop: when the server stops (after the shutdown delay), it
    /// stops listening, closes its idle connections, lets the requests in flight finish and
    /// closes what is left after this long. `None`: the server closes every connection at
    /// once. The longest of all hooks applies.
    fn graceful_shutdown(&self) -> Option<Duration> {
        None
    }

    /// Outages of the listener: the app stops listening and closes every connection.
    fn down_windows(&self) -> Vec<ScheduledDown> {
        Vec::new()
    }

    /// The app's answer to a connection that opens with the HTTP/2 preface: this status,
    /// then a close. `None` (every hook): hyper's own way, a close without an answer.
    fn preface_answer(&self) -> Option<StatusCode> {
        None
    }

    /// The banner line (with its CRLF) of a server-first line protocol the app speaks
    /// instead of HTTP. `None` (every hook): HTTP.
    fn server_first(&self) -> Option<std::sync::Arc<str>> {
        None
    }
}

/// Which calls of a [`Hook`] the core makes on the hot path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Uses {
    /// Call [`Hook::on_request`] for every request.
    pub(crate) requests: bool,
    /// Call [`Hook::deadline`] and [`Hook::expire`] on every connection (the connection then
    /// runs a timer and tracks when each response ends).
    pub(crate) connections: bool,
}

impl Uses {
    /// Only the calls made once at start.
    pub(crate) const START_ONLY: Uses = Uses {
        requests: false,
        connections: false,
    };
    /// Every request.
    pub(crate) const REQUESTS: Uses = Uses {
        requests: true,
        connections: false,
    };
    /// Every connection's timer.
    pub(crate) const CONNECTIONS: Uses = Uses {
        requests: false,
        connections: true,
    };
}

/// A request as hooks see it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestInfo {
    /// Its number on its connection, from 1.
    pub(crate) n: u64,
    /// When the server started.
    pub(crate) started: Instant,
    /// Its `x-request-id`, hashed ([`request_id`]): the same on every retry of one request.
    pub(crate) id: Option<u64>,
}

/// The hash of an `x-request-id` value (FNV-1a, 64 bits).
pub(crate) fn request_id(value: &[u8]) -> u64 {
    value.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl RequestInfo {
    /// Time from the server's start to the request's arrival.
    pub(crate) fn since_start(&self) -> Duration {
        self.started.elapsed()
    }
}

/// A status code a hook may answer, with its slot in the report's counters.
///
/// Obtained once at start from [`Build::status`], so that counting a response is an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StatusSlot {
    slot: usize,
    code: StatusCode,
}

impl StatusSlot {
    /// The slot of 200, the answer when no hook decides one.
    pub(crate) const OK: StatusSlot = StatusSlot {
        slot: 0,
        code: StatusCode::OK,
    };

    /// The index of this status in the report's counters.
    pub(crate) fn slot(self) -> usize {
        self.slot
    }

    /// The status code.
    pub(crate) fn code(self) -> StatusCode {
        self.code
    }
}

/// What the hooks decided for one request; the core applies it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Decision {
    status: Option<StatusSlot>,
    delay: Option<Duration>,
    drop: Option<CloseReason>,
    close_with_header: Option<CloseReason>,
    close_after: Option<CloseReason>,
}

impl Decision {
    /// Answer `status`, unless an earlier hook already chose the answer.
    pub(crate) fn answer(&mut self, status: StatusSlot) {
        self.status.get_or_insert(status);
    }

    /// Hold the response back `delay` longer (delays of several hooks add up).
    pub(crate) fn delay_by(&mut self, delay: Duration) {
        self.delay = Some(self.delay.unwrap_or_default() + delay);
    }

    /// Read the request and close the connection without any response, for `reason`.
    pub(crate) fn drop_request(&mut self, reason: CloseReason) {
        self.drop.get_or_insert(reason);
    }

    /// Send `Connection: close` on the response and close once it is out, for `reason`.
    pub(crate) fn close_with_header(&mut self, reason: CloseReason) {
        self.close_with_header.get_or_insert(reason);
    }

    /// Close the connection right after the response, without notice and through the close
    /// path, for `reason`.
    pub(crate) fn close_after(&mut self, reason: CloseReason) {
        self.close_after.get_or_insert(reason);
    }

    /// The answer chosen so far.
    pub(crate) fn status(&self) -> Option<StatusSlot> {
        self.status
    }

    /// The total delay, if any hook asked for one.
    pub(crate) fn delay(&self) -> Option<Duration> {
        self.delay
    }

    /// Whether the request is dropped, and why.
    pub(crate) fn dropped(&self) -> Option<CloseReason> {
        self.drop
    }

    /// Whether the response carries `Connection: close`, and why.
    pub(crate) fn closes_with_header(&self) -> Option<CloseReason> {
        self.close_with_header
    }

    /// Whether the connection closes right after the response, and why.
    pub(crate) fn closes_after(&self) -> Option<CloseReason> {
        self.close_after
    }
}

/// What a connection hook wants when the timer fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// Nothing yet.
    Keep,
    /// Close the connection now (it is idle), through the close path.
    CloseNow(CloseReason),
    /// Close it right after the response in flight, through the close path.
    CloseAfterResponse(CloseReason),
}

/// One outage of the listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ScheduledDown {
    /// When the app stops listening, after its origin.
    pub(crate) at: Duration,
    /// How long it stays down.
    pub(crate) duration: Duration,
    /// Count `at` from the first request the server receives instead of from its start.
    pub(crate) from_first_request: bool,
}

/// What hooks get when the server starts: the status codes they may answer.
#[derive(Debug)]
pub(crate) struct Build {
    codes: Vec<StatusCode>,
}

impl Build {
    /// A fresh build; 200 has slot 0.
    pub(crate) fn new() -> Self {
        Self {
            codes: vec![StatusCode::OK],
        }
    }

    /// The slot of `code` (codes outside 100..=999 answer 500; validation rejects them).
    pub(crate) fn status(&mut self, code: u16) -> StatusSlot {
        let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let slot = match self.codes.iter().position(|c| *c == code) {
            Some(slot) => slot,
            None => {
                self.codes.push(code);
                self.codes.len() - 1
            }
        };
        StatusSlot { slot, code }
    }

    /// The status code of every slot, in slot order.
    pub(crate) fn codes(&self) -> Vec<u16> {
        self.codes.iter().map(StatusCode::as_u16).collect()
    }
}

/// One connection's state, shared by its driver, its handler and its hooks. Written and read
/// by the connection's task only.
#[derive(Debug)]
pub(crate) struct ConnState {
    /// When the connection was accepted.
    opened: Instant,
    /// A request has been received and its response not yet fully handed to hyper.
    in_flight: AtomicBool,
    /// Nanoseconds after `opened` at which the last response was handed to hyper.
    last_done_ns: AtomicU64,
    /// Close the connection once the current response is out, without notice.
    close_after_response: AtomicBool,
}

impl ConnState {
    /// The state of a connection accepted now.
    pub(crate) fn new() -> Self {
        Self {
            opened: Instant::now(),
            in_flight: AtomicBool::new(false),
            last_done_ns: AtomicU64::new(0),
            close_after_response: AtomicBool::new(false),
        }
    }

    /// When the connection was accepted.
    pub(crate) fn opened(&self) -> Instant {
        self.opened
    }

    /// Whether a request is being served.
    pub(crate) fn in_flight(&self) -> bool {
        self.in_flight.load(Relaxed)
    }

    /// When the connection last became idle (its opening, if it never served a request).
    pub(crate) fn idle_since(&self) -> Instant {
        self.opened + Duration::from_nanos(self.last_done_ns.load(Relaxed))
    }

    /// Whether the connection is already set to close after the current response.
    pub(crate) fn closing(&self) -> bool {
        self.close_after_response.load(Relaxed)
    }

    /// Ask for the connection to close once the current response is out.
    pub(crate) fn close_after_response(&self) {
        self.close_after_response.store(true, Relaxed);
    }

    /// Whether the connection should close now: a close was asked for and no response is pending.
    pub(crate) fn wants_close_now(&self) -> bool {
        self.closing() && !self.in_flight()
    }

    /// A request is being served.
    pub(crate) fn begin(&self) {
        self.in_flight.store(true, Relaxed);
    }

    /// Its response has been handed to hyper.
    pub(crate) fn end(&self) {
        let ns = self.opened.elapsed().as_nanos() as u64;
        self.last_done_ns.store(ns, Relaxed);
        self.in_flight.store(false, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_answer_stays_and_delays_add_up() {
        let mut build = Build::new();
        let (a, b) = (build.status(503), build.status(500));
        let mut d = Decision::default();
        d.answer(a);
        d.answer(b);
        d.delay_by(Duration::from_millis(2));
        d.delay_by(Duration::from_millis(3));
        assert_eq!(d.status(), Some(a));
        assert_eq!(d.delay(), Some(Duration::from_millis(5)));
    }

    #[test]
    fn each_code_has_one_slot_and_200_is_slot_0() {
        let mut build = Build::new();
        assert_eq!(build.status(200), StatusSlot::OK);
        let s = build.status(503);
        assert_eq!(build.status(503), s);
        assert_eq!((s.slot(), s.code().as_u16()), (1, 503));
        assert_eq!(build.codes(), vec![200, 503]);
    }

    #[test]
    fn conn_state_tracks_idle_time_and_closing() {
        let conn = ConnState::new();
        assert_eq!(conn.idle_since(), conn.opened());
        conn.begin();
        assert!(conn.in_flight());
        conn.close_after_response();
        assert!(!conn.wants_close_now(), "a response is pending");
        conn.end();
        assert!(conn.wants_close_now());
        assert!(conn.idle_since() >= conn.opened());
    }
}
