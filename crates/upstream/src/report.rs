//! What happened: per-connection records, the registry that merges them, and the report.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

/// The report of one run, written at exit (`--report FILE`) or read in process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamReport {
    /// The address the server listened on.
    pub addr: SocketAddr,
    /// Connections accepted.
    pub connections_opened: u64,
    /// Connections closed, by reason.
    pub connections_closed: ClosedByReason,
    /// Requests received, including dropped ones.
    pub requests: u64,
    /// Responses sent, by status code.
    pub responses: BTreeMap<String, u64>,
    /// Requests read and then answered by closing the connection (`max-requests` with
    /// `mode: drop`).
    pub dropped_requests: u64,
    /// Connections the app closed with a request waiting unread (it arrived during the
    /// `close-lag`): the close resets it unanswered.
    #[serde(default)]
    pub reset_unread: u64,
    /// Outages that happened, in time order.
    pub down_windows: Vec<DownRecord>,
    /// With `down` windows counted `after_first_request`: milliseconds after start of the
    /// first request, from which they counted (absent until it arrives).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_request_ms: Option<u64>,
}

/// Closed connections by the reason they closed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedByReason {
    /// Closed by the server after being idle (`idle-close`).
    pub idle_timeout: u64,
    /// Recycled by the server after its last allowed request (`max-requests`).
    pub max_requests: u64,
    /// Closed by the server at the end of its lifetime (`lifetime`).
    pub lifetime: u64,
    /// Closed because the server went down (`down`).
    pub down: u64,
    /// Closed by the client.
    pub peer: u64,
    /// Closed after an I/O or protocol error.
    pub error: u64,
    /// Still open when the server stopped: closed at once (the default stop), or at the
    /// timeout of a `graceful-shutdown`.
    pub shutdown: u64,
    /// Closed idle when a `graceful-shutdown` began (between requests, or before the first).
    /// Absent in reports without one.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub shutdown_idle: u64,
    /// Closed by a `graceful-shutdown` right after the response to the request it was
    /// serving when the stop began (or received meanwhile). Absent in reports without one.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub shutdown_after_response: u64,
}

/// Whether a counter is zero (counters added to the report later are left out then, so that
/// reports without them read as before).
fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl ClosedByReason {
    /// All closed connections.
    pub fn total(&self) -> u64 {
        self.idle_timeout
            + self.max_requests
            + self.lifetime
            + self.down
            + self.peer
            + self.error
            + self.shutdown
            + self.shutdown_idle
            + self.shutdown_after_response
    }

    fn count(&mut self, reason: CloseReason) {
        let slot = match reason {
            CloseReason::IdleTimeout => &mut self.idle_timeout,
            CloseReason::MaxRequests => &mut self.max_requests,
            CloseReason::Lifetime => &mut self.lifetime,
            CloseReason::Down => &mut self.down,
            CloseReason::Peer => &mut self.peer,
            CloseReason::Error => &mut self.error,
            CloseReason::Shutdown => &mut self.shutdown,
            CloseReason::ShutdownIdle => &mut self.shutdown_idle,
            CloseReason::ShutdownAfterResponse => &mut self.shutdown_after_response,
        };
        *slot += 1;
    }
}

/// One outage as it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownRecord {
    /// Milliseconds after start when the server stopped listening.
    pub at_ms: u64,
    /// Milliseconds until it listened again (up to the stop, if it stopped while down).
    pub for_ms: u64,
}

/// Why a connection closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum CloseReason {
    IdleTimeout = 1,
    MaxRequests,
    Lifetime,
    Down,
    Peer,
    Error,
    Shutdown,
    /// Idle when a graceful stop began.
    ShutdownIdle,
    /// Closed after its response by a graceful stop.
    ShutdownAfterResponse,
}

impl CloseReason {
    /// Whether the app closes the connection on its own (through its close path), as
    /// opposed to the client, an error, an outage or the server stopping.
    pub(crate) fn is_app_close(self) -> bool {
        matches!(self, Self::IdleTimeout | Self::MaxRequests | Self::Lifetime)
    }

    const ALL: [CloseReason; 9] = [
        Self::IdleTimeout,
        Self::MaxRequests,
        Self::Lifetime,
        Self::Down,
        Self::Peer,
        Self::Error,
        Self::Shutdown,
        Self::ShutdownIdle,
        Self::ShutdownAfterResponse,
    ];
}

/// The counters of one connection. Only its own task writes them; the registry reads them.
#[derive(Debug)]
pub(crate) struct ConnRecord {
    requests: AtomicU64,
    dropped: AtomicU64,
    /// 1 when the connection closed with a request waiting unread.
    reset_unread: AtomicU64,
    /// Responses by status slot (see `hook::Build::status`).
    responses: Box<[AtomicU64]>,
    /// The close reason, 0 while unknown; the first one set wins.
    reason: AtomicU8,
}

/// Add one to a counter that only one task writes: no read-modify-write needed.
fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Relaxed) + 1, Relaxed);
}

impl ConnRecord {
    fn new(slots: usize) -> Self {
        Self {
            requests: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            reset_unread: AtomicU64::new(0),
            responses: (0..slots).map(|_| AtomicU64::new(0)).collect(),
            reason: AtomicU8::new(0),
        }
    }

    /// Requests received so far.
    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Relaxed)
    }

    /// Count a request; returns its number on this connection, from 1.
    pub(crate) fn request(&self) -> u64 {
        bump(&self.requests);
        self.requests.load(Relaxed)
    }

    /// Count a response in status slot `slot`.
    pub(crate) fn response(&self, slot: usize) {
        bump(&self.responses[slot]);
    }

    /// Count a request answered by closing the connection.
    pub(crate) fn dropped(&self) {
        bump(&self.dropped);
    }

    /// Note that the connection closes with a request waiting unread.
    pub(crate) fn reset_unread(&self) {
        bump(&self.reset_unread);
    }

    /// Record why the connection closes, unless a reason is already set; whether it was set.
    pub(crate) fn set_reason(&self, reason: CloseReason) -> bool {
        let new = reason as u8;
        self.reason
            .compare_exchange(0, new, Relaxed, Relaxed)
            .is_ok()
    }

    /// Why the connection closes, once known.
    pub(crate) fn reason(&self) -> Option<CloseReason> {
        let r = self.reason.load(Relaxed);
        CloseReason::ALL.into_iter().find(|c| *c as u8 == r)
    }
}

/// All connections, open and closed, of one server.
#[derive(Debug)]
pub(crate) struct Registry {
    /// Status code of each response slot.
    codes: Vec<u16>,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    addr: SocketAddr,
    next_id: u64,
    live: HashMap<u64, Arc<ConnRecord>>,
    opened: u64,
    closed: ClosedByReason,
    requests: u64,
    dropped: u64,
    reset_unread: u64,
    responses: Vec<u64>,
    down_windows: Vec<DownRecord>,
    first_request_ms: Option<u64>,
}

impl Inner {
    fn fold(&mut self, record: &ConnRecord) {
        self.requests += record.requests.load(Relaxed);
        self.dropped += record.dropped.load(Relaxed);
        self.reset_unread += record.reset_unread.load(Relaxed);
        for (sum, n) in self.responses.iter_mut().zip(record.responses.iter()) {
            *sum += n.load(Relaxed);
        }
    }
}

impl Registry {
    /// A registry for a server at `addr` whose status slots answer `codes`.
    pub(crate) fn new(addr: SocketAddr, codes: Vec<u16>) -> Self {
        let inner = Inner {
            addr,
            next_id: 0,
            live: HashMap::new(),
            opened: 0,
            closed: ClosedByReason::default(),
            requests: 0,
            dropped: 0,
            reset_unread: 0,
            responses: vec![0; codes.len()],
            down_windows: Vec::new(),
            first_request_ms: None,
        };
        Self {
            codes,
            inner: Mutex::new(inner),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Register a new connection; it is folded into the totals when the guard drops.
    pub(crate) fn open(self: &Arc<Self>) -> OpenConnection {
        let record = Arc::new(ConnRecord::new(self.codes.len()));
        let mut inner = self.lock();
        let id = inner.next_id;
        inner.next_id += 1;
        inner.opened += 1;
        inner.live.insert(id, record.clone());
        OpenConnection {
            id,
            record,
            registry: self.clone(),
        }
    }

    /// Give every open connection `reason` (unless it already has one), before they are
    /// closed; returns how many took it.
    pub(crate) fn mark_open(&self, reason: CloseReason) -> usize {
        let inner = self.lock();
        inner.live.values().filter(|r| r.set_reason(reason)).count()
    }

    /// Record when the first request arrived (the origin of the down windows).
    pub(crate) fn record_first_request(&self, at_ms: u64) {
        self.lock().first_request_ms.get_or_insert(at_ms);
    }

    /// Record an outage.
    pub(crate) fn record_down(&self, window: DownRecord) {
        self.lock().down_windows.push(window);
    }

    /// The report so far, open connections included.
    pub(crate) fn report(&self) -> UpstreamReport {
        let inner = self.lock();
        let mut requests = inner.requests;
        let mut dropped = inner.dropped;
        let mut reset_unread = inner.reset_unread;
        let mut by_slot = inner.responses.clone();
        for record in inner.live.values() {
            requests += record.requests.load(Relaxed);
            dropped += record.dropped.load(Relaxed);
            reset_unread += record.reset_unread.load(Relaxed);
            for (sum, n) in by_slot.iter_mut().zip(record.responses.iter()) {
                *sum += n.load(Relaxed);
            }
        }
        let mut responses = BTreeMap::new();
        for (code, n) in self.codes.iter().zip(by_slot) {
            if n > 0 {
                *responses.entry(code.to_string()).or_insert(0) += n;
            }
        }
        UpstreamReport {
            addr: inner.addr,
            connections_opened: inner.opened,
            connections_closed: inner.closed,
            requests,
            responses,
            dropped_requests: dropped,
            reset_unread,
            down_windows: inner.down_windows.clone(),
            first_request_ms: inner.first_request_ms,
        }
    }
}

/// An open connection's registration: the record its task writes, folded in on drop.
#[derive(Debug)]
pub(crate) struct OpenConnection {
    id: u64,
    record: Arc<ConnRecord>,
    registry: Arc<Registry>,
}

impl OpenConnection {
    /// The counters of this connection.
    pub(crate) fn record(&self) -> &Arc<ConnRecord> {
        &self.record
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        let mut inner = self.registry.lock();
        inner.live.remove(&self.id);
        inner.fold(&self.record);
        let reason = self.record.reason().unwrap_or(CloseReason::Error);
        inner.closed.count(reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> Arc<Registry> {
        Arc::new(Registry::new(
            SocketAddr::from(([127, 0, 0, 1], 9)),
            vec![200, 503],
        ))
    }

    #[test]
    fn open_connections_count_before_they_close() {
        let reg = registry();
        let conn = reg.open();
        conn.record().request();
        conn.record().response(1);
        let live = reg.report();
        assert_eq!(live.connections_opened, 1);
        assert_eq!(live.connections_closed.total(), 0);
        assert_eq!(live.responses.get("503"), Some(&1));
        conn.record().set_reason(CloseReason::IdleTimeout);
        drop(conn);
        let done = reg.report();
        assert_eq!(done.requests, 1);
        assert_eq!(done.connections_closed.idle_timeout, 1);
        assert_eq!(done.responses.get("503"), Some(&1));
        assert_eq!(done.responses.get("200"), None);
    }

    #[test]
    fn first_reason_wins() {
        let reg = registry();
        let conn = reg.open();
        assert!(conn.record().set_reason(CloseReason::Lifetime));
        assert_eq!(reg.mark_open(CloseReason::Down), 0);
        drop(conn);
        let closed = reg.report().connections_closed;
        assert_eq!((closed.lifetime, closed.down), (1, 0));
    }

    #[test]
    fn unknown_reason_counts_as_error() {
        let reg = registry();
        drop(reg.open());
        assert_eq!(reg.report().connections_closed.error, 1);
    }

    #[test]
    fn every_reason_is_counted_in_its_own_field() {
        let mut closed = ClosedByReason::default();
        for (i, reason) in CloseReason::ALL.into_iter().enumerate() {
            assert_eq!(reason as u8, i as u8 + 1, "{reason:?}");
            closed.count(reason);
        }
        let json = serde_json::to_value(closed).unwrap();
        let fields = json.as_object().unwrap();
        assert_eq!(fields.len(), CloseReason::ALL.len(), "{json}");
        assert!(fields.values().all(|n| n == 1), "{json}");
        assert_eq!(closed.total(), CloseReason::ALL.len() as u64);
    }

    #[test]
    fn reports_without_the_graceful_counters_read_and_write_as_before() {
        let old = r#"{"idle_timeout":5,"max_requests":0,"lifetime":0,"down":0,"peer":0,"error":0,"shutdown":2}"#;
        let closed: ClosedByReason = serde_json::from_str(old).unwrap();
        assert_eq!(
            (closed.shutdown_idle, closed.shutdown_after_response),
            (0, 0)
        );
        assert_eq!(serde_json::to_string(&closed).unwrap(), old);
        let graceful = ClosedByReason {
            shutdown_idle: 1,
            shutdown_after_response: 2,
            ..closed
        };
        let json = serde_json::to_string(&graceful).unwrap();
        assert!(
            json.ends_with(r#""shutdown":2,"shutdown_idle":1,"shutdown_after_response":2}"#),
            "{json}"
        );
        assert_eq!(
            serde_json::from_str::<ClosedByReason>(&json).unwrap(),
            graceful
        );
    }

    #[test]
    fn report_round_trips_through_json() {
        let reg = registry();
        reg.record_down(DownRecord {
            at_ms: 3000,
            for_ms: 2000,
        });
        let report = reg.report();
        let json = serde_json::to_string(&report).unwrap();
        assert!(
            json.contains(r#""down_windows":[{"at_ms":3000,"for_ms":2000}]"#),
            "{json}"
        );
        assert_eq!(
            serde_json::from_str::<UpstreamReport>(&json).unwrap(),
            report
        );
    }
}
