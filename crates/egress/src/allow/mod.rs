//! The firewall's allow table: `(ip, tcp:port)` entries that expire like ipset timeouts.
//!
//! [`AllowSet`] is the interface; [`UserspaceAllowSet`] keeps the table in
//! memory and reads time from a [`Clock`]. With `backend: nftables` this table
//! stays the record (events, `ipset` lines, expiry windows) and the kernel set of
//! [`crate::nftables`] follows it and enforces it, expiring its entries itself.

mod clock;
mod userspace;

use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

use serde::Serialize;

pub use clock::{Clock, ManualClock, SystemClock};
pub use userspace::UserspaceAllowSet;

/// The destination an allow entry opens: an IPv4 address and a TCP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct AllowKey {
    /// Destination address.
    pub ip: Ipv4Addr,
    /// Destination TCP port.
    pub port: u16,
}

/// What [`AllowSet::add`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    /// The entry was not live and now is.
    Added,
    /// The entry was live; its countdown restarted.
    Refreshed,
}

/// One live entry as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowEntry {
    /// The destination.
    pub key: AllowKey,
    /// Time left before the entry expires.
    pub remaining: Duration,
    /// The FQDN whose answer added it, with its trailing dot.
    pub comment: String,
}

impl fmt::Display for AllowEntry {
    /// The `ipset list` line: `127.0.0.2,tcp:41234 timeout 3597 comment "external.service.com."`
    /// (remaining seconds rounded up).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.remaining.as_nanos().div_ceil(1_000_000_000);
        write!(
            f,
            "{},tcp:{} timeout {} comment \"{}\"",
            self.key.ip, self.key.port, secs, self.comment
        )
    }
}

/// A set of destinations with per-entry timeouts.
pub trait AllowSet: Send + Sync + 'static {
    /// Add `key` for `timeout`, or restart its countdown if it is live (`ipset add … -exist`).
    fn add(&self, key: AllowKey, comment: &str, timeout: Duration) -> AddOutcome;

    /// Whether `key` is in the set and not expired.
    fn is_live(&self, key: AllowKey) -> bool;

    /// The live entries, ordered by address then port.
    fn list(&self) -> Vec<AllowEntry>;

    /// Remove the entries that have expired and return them.
    fn sweep(&self) -> Vec<AllowKey>;

    /// Time until the earliest live entry expires, `None` when the set is empty.
    fn next_expiry(&self) -> Option<Duration>;
}
