//! The egress firewall: DNS answers for allow-listed names open `(ip, tcp:port)`
//! entries in an [`AllowSet`]; expiry closes them again. Keeps the counters and
//! the timeline of entry events, and tells the gateways when liveness changes.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::allow::{AddOutcome, AllowKey, AllowSet, Clock};
use crate::config::normalize_name;

/// Most timeline events kept; later ones are only counted.
const TIMELINE_CAP: usize = 200_000;

/// What happened to an allow entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllowEvent {
    /// A DNS answer created the entry (it was absent or expired).
    Added,
    /// A DNS answer restarted the countdown of a live entry.
    Refreshed,
    /// The entry timed out.
    Expired,
}

/// One allow-entry event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEvent {
    /// Milliseconds after start.
    pub t_ms: u64,
    /// The destination address.
    pub ip: Ipv4Addr,
    /// The destination port.
    pub port: u16,
    /// What happened.
    pub event: AllowEvent,
}

/// Counters of allow-entry events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowStats {
    /// Entries created.
    pub added: u64,
    /// Countdowns restarted.
    pub refreshed: u64,
    /// Entries timed out.
    pub expired: u64,
    /// Entries live now.
    pub live: u64,
    /// The configured entry lifetime.
    pub timeout_ms: u64,
}

#[derive(Default)]
struct Timeline {
    events: Vec<TimelineEvent>,
    dropped: u64,
}

/// The firewall shared by the DNS server (which opens entries) and the gateways (which obey them).
pub struct Firewall {
    allow: Arc<dyn AllowSet>,
    clock: Arc<dyn Clock>,
    timeout: Duration,
    /// The port of entries for addresses no gateway stands for.
    port: u16,
    /// The service port of each gateway's address.
    ports: HashMap<Ipv4Addr, u16>,
    names: HashSet<String>,
    added: AtomicU64,
    refreshed: AtomicU64,
    expired: AtomicU64,
    timeline: Mutex<Timeline>,
    changes: watch::Sender<u64>,
    /// Bumped by every answer that added or refreshed entries (a kernel set must follow).
    writes: watch::Sender<u64>,
    /// Per gateway: the last change generation it has acted on (listener reopened or closed).
    applied: watch::Sender<Vec<u64>>,
    /// With a kernel set following the table: the last write generation it holds.
    written: watch::Sender<Option<u64>>,
    /// With a kernel set following the table: the entries answers added or refreshed that it
    /// has not been given yet.
    unwritten: Mutex<BTreeSet<AllowKey>>,
}

/// Where the allow table stands: what an answer that changed it waits for its followers to
/// have acted on before it leaves ([`Firewall::progress`], [`Firewall::opened`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The change generation (entries added or expired): the gateways follow it.
    pub changes: u64,
    /// The write generation (entries added or refreshed): a kernel set follows it.
    pub writes: u64,
}

impl Firewall {
    /// A firewall over `allow` for the allow-listed `names`, opening `port` for `timeout`
    /// (see [`Firewall::with_ports`] for addresses served on other ports).
    pub fn new(
        allow: Arc<dyn AllowSet>,
        clock: Arc<dyn Clock>,
        names: &[String],
        timeout: Duration,
        port: u16,
    ) -> Self {
        Self {
            allow,
            clock,
            timeout,
            port,
            ports: HashMap::new(),
            names: names.iter().map(|n| normalize_name(n)).collect(),
            added: AtomicU64::new(0),
            refreshed: AtomicU64::new(0),
            expired: AtomicU64::new(0),
            timeline: Mutex::new(Timeline::default()),
            changes: watch::Sender::new(0),
            writes: watch::Sender::new(0),
            applied: watch::Sender::new(Vec::new()),
            written: watch::Sender::new(None),
            unwritten: Mutex::new(BTreeSet::new()),
        }
    }

    /// The change and write generations as of now.
    pub fn progress(&self) -> Progress {
        Progress {
            changes: *self.changes.borrow(),
            writes: *self.writes.borrow(),
        }
    }

    /// A kernel set follows this table: answers that write entries leave only once it holds
    /// them ([`Firewall::to_write`], [`Firewall::written`]).
    pub fn with_kernel_set(self) -> Self {
        self.written.send_replace(Some(0));
        self
    }

    /// The entries answers have added or refreshed since the last call, for the kernel set,
    /// each with the entry lifetime: its countdown restarts when the kernel is given it, so the
    /// answer that waits for the write leaves with the whole lifetime ahead, however long the
    /// write took. The kernel's element thus ends a little after the record's entry, never
    /// before it.
    pub fn to_write(&self) -> Vec<(AllowKey, Duration)> {
        let keys = std::mem::take(&mut *self.unwritten.lock().expect("unwritten lock"));
        keys.into_iter().map(|k| (k, self.timeout)).collect()
    }

    /// The kernel set holds every entry written up to write generation `writes`.
    pub fn written(&self, writes: u64) {
        self.written.send_if_modified(|w| match w {
            Some(w) if *w < writes => {
                *w = writes;
                true
            }
            _ => false,
        });
    }

    /// A gateway joins; the returned slot is what it passes to [`Firewall::applied`].
    pub fn register_gateway(&self) -> usize {
        let mut slot = 0;
        self.applied.send_modify(|applied| {
            applied.push(0);
            slot = applied.len() - 1;
        });
        slot
    }

    /// Gateway `slot` has acted on every change up to `generation`.
    pub fn applied(&self, slot: usize, generation: u64) {
        self.applied
            .send_if_modified(|applied| match applied.get_mut(slot) {
                Some(g) if *g < generation => {
                    *g = generation;
                    true
                }
                _ => false,
            });
    }

    /// Wait (at most `limit`) until every gateway has acted on the changes up to `upto` and
    /// the kernel set, if one follows, holds the writes up to `upto`: a DNS answer that opened
    /// or refreshed an entry leaves only once the door is open, as an ipset entry is added
    /// before the resolver answers. The kernel set is waited for after a refresh too, since
    /// only it knows whether its element is still live.
    pub async fn opened(&self, upto: Progress, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        let mut applied = self.applied.subscribe();
        let _ = tokio::time::timeout_at(
            deadline,
            applied.wait_for(|a| a.iter().all(|g| *g >= upto.changes)),
        )
        .await;
        let mut written = self.written.subscribe();
        let _ = tokio::time::timeout_at(
            deadline,
            written.wait_for(|w| w.is_none_or(|w| w >= upto.writes)),
        )
        .await;
    }

    /// Key the entries of these addresses on their own port (the service port of the gateway
    /// standing for each) instead of the default one.
    pub fn with_ports(mut self, ports: impl IntoIterator<Item = (Ipv4Addr, u16)>) -> Self {
        self.ports.extend(ports);
        self
    }

    /// The port the entry of `ip` opens: its gateway's service port, else the default.
    pub fn port_for(&self, ip: Ipv4Addr) -> u16 {
        self.ports.get(&ip).copied().unwrap_or(self.port)
    }

    /// Record a DNS answer: when `name` (canonical form) is allow-listed, add or
    /// refresh an entry for every answered address, commented with `fqdn`.
    pub fn admit(&self, name: &str, fqdn: &str, addresses: &[Ipv4Addr]) {
        if addresses.is_empty() || !self.names.contains(name) {
            return;
        }
        self.sweep();
        let mut added = false;
        let kernel = self.written.borrow().is_some();
        for &ip in addresses {
            let key = AllowKey {
                ip,
                port: self.port_for(ip),
            };
            if kernel {
                self.unwritten.lock().expect("unwritten lock").insert(key);
            }
            let event = match self.allow.add(key, fqdn, self.timeout) {
                AddOutcome::Added => {
                    added = true;
                    self.added.fetch_add(1, Relaxed);
                    AllowEvent::Added
                }
                AddOutcome::Refreshed => {
                    self.refreshed.fetch_add(1, Relaxed);
                    AllowEvent::Refreshed
                }
            };
            self.record(key, event);
        }
        if added {
            self.changes.send_modify(|g| *g += 1);
        }
        self.writes.send_modify(|w| *w += 1);
    }

    /// A receiver that changes whenever an answer adds or refreshes entries.
    pub fn subscribe_writes(&self) -> watch::Receiver<u64> {
        self.writes.subscribe()
    }

    /// Whether NEW connections to `ip` on its service port are allowed now.
    pub fn is_live(&self, ip: Ipv4Addr) -> bool {
        self.allows(ip, self.port_for(ip))
    }

    /// Whether NEW connections to `ip`:`port` are allowed now.
    pub fn allows(&self, ip: Ipv4Addr, port: u16) -> bool {
        self.allow.is_live(AllowKey { ip, port })
    }

    /// A receiver that changes whenever an entry is added or expires.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Expire entries at their deadlines until `shutdown` turns true.
    pub async fn expire_entries(&self, mut shutdown: watch::Receiver<bool>) {
        let mut changes = self.subscribe();
        loop {
            changes.borrow_and_update();
            self.sweep();
            let wait = self
                .allow
                .next_expiry()
                .unwrap_or(Duration::from_secs(86_400));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = changes.changed() => {}
                _ = crate::stopped(&mut shutdown) => return,
            }
        }
    }

    /// The live entries as `ipset list` lines.
    pub fn ipset_lines(&self) -> Vec<String> {
        self.allow.list().iter().map(ToString::to_string).collect()
    }

    /// The event counters.
    pub fn stats(&self) -> AllowStats {
        AllowStats {
            added: self.added.load(Relaxed),
            refreshed: self.refreshed.load(Relaxed),
            expired: self.expired.load(Relaxed),
            live: self.allow.list().len() as u64,
            timeout_ms: self.timeout.as_millis() as u64,
        }
    }

    /// The events recorded so far and the number of events beyond the cap.
    pub fn timeline(&self) -> (Vec<TimelineEvent>, u64) {
        let t = self.timeline.lock().expect("timeline lock");
        (t.events.clone(), t.dropped)
    }

    /// Milliseconds since start, on the firewall's clock.
    pub fn now_ms(&self) -> u64 {
        self.clock.now().as_millis() as u64
    }

    fn sweep(&self) {
        let expired = self.allow.sweep();
        for &key in &expired {
            self.expired.fetch_add(1, Relaxed);
            self.record(key, AllowEvent::Expired);
        }
        if !expired.is_empty() {
            self.changes.send_modify(|g| *g += 1);
        }
    }

    fn record(&self, key: AllowKey, event: AllowEvent) {
        let t_ms = self.now_ms();
        let mut t = self.timeline.lock().expect("timeline lock");
        if t.events.len() < TIMELINE_CAP {
            t.events.push(TimelineEvent {
                t_ms,
                ip: key.ip,
                port: key.port,
                event,
            });
        } else {
            t.dropped += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allow::{ManualClock, UserspaceAllowSet};

    #[test]
    fn answers_for_allow_listed_names_open_entries_and_expiry_is_recorded() {
        let clock = Arc::new(ManualClock::new());
        let set = Arc::new(UserspaceAllowSet::new(clock.clone()));
        let fw = Firewall::new(
            set,
            clock.clone(),
            &["External.service.com.".into()],
            Duration::from_secs(2),
            8080,
        );
        let ip = Ipv4Addr::new(127, 0, 0, 2);
        let mut changes = fw.subscribe();
        fw.admit("other.com", "other.com.", &[ip]);
        assert!(!fw.is_live(ip));
        fw.admit("external.service.com", "external.service.com.", &[ip]);
        assert!(fw.is_live(ip) && changes.has_changed().unwrap());
        changes.borrow_and_update();
        clock.advance(Duration::from_secs(1));
        fw.admit("external.service.com", "external.service.com.", &[ip]);
        assert!(
            !changes.has_changed().unwrap(),
            "a refresh changes no liveness"
        );
        assert_eq!(
            fw.ipset_lines(),
            [r#"127.0.0.2,tcp:8080 timeout 2 comment "external.service.com.""#]
        );
        clock.advance(Duration::from_secs(2));
        assert!(!fw.is_live(ip));
        fw.admit("external.service.com", "external.service.com.", &[ip]);
        let events: Vec<(u64, AllowEvent)> =
            fw.timeline().0.iter().map(|e| (e.t_ms, e.event)).collect();
        assert_eq!(
            events,
            [
                (0, AllowEvent::Added),
                (1000, AllowEvent::Refreshed),
                (3000, AllowEvent::Expired),
                (3000, AllowEvent::Added)
            ]
        );
        let stats = fw.stats();
        assert_eq!(
            (stats.added, stats.refreshed, stats.expired, stats.live),
            (2, 1, 1, 1)
        );
    }

    #[test]
    fn entries_are_keyed_on_each_address_service_port() {
        let clock = Arc::new(ManualClock::new());
        let set = Arc::new(UserspaceAllowSet::new(clock.clone()));
        let (a, b) = (Ipv4Addr::new(10, 96, 0, 160), Ipv4Addr::new(10, 96, 0, 170));
        let fw = Firewall::new(
            set,
            clock,
            &["external.service.com".into()],
            Duration::from_secs(30),
            18000,
        )
        .with_ports([(a, 80)]);
        fw.admit("external.service.com", "external.service.com.", &[a, b]);
        assert!(fw.is_live(a) && fw.is_live(b));
        assert_eq!(
            fw.ipset_lines(),
            [
                r#"10.96.0.160,tcp:80 timeout 30 comment "external.service.com.""#,
                r#"10.96.0.170,tcp:18000 timeout 30 comment "external.service.com.""#
            ]
        );
        assert_eq!(fw.timeline().0[0].port, 80);
    }
}
