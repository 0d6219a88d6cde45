//! The in-memory allow table.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{AddOutcome, AllowEntry, AllowKey, AllowSet, Clock};

struct Slot {
    deadline: Duration,
    comment: String,
}

/// An [`AllowSet`] kept in memory, timed by a [`Clock`].
pub struct UserspaceAllowSet {
    clock: Arc<dyn Clock>,
    slots: Mutex<HashMap<AllowKey, Slot>>,
}

impl UserspaceAllowSet {
    /// An empty set timed by `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<AllowKey, Slot>> {
        self.slots.lock().expect("allow set lock")
    }
}

impl AllowSet for UserspaceAllowSet {
    fn add(&self, key: AllowKey, comment: &str, timeout: Duration) -> AddOutcome {
        let now = self.clock.now();
        let deadline = now + timeout;
        let mut slots = self.slots();
        match slots.get_mut(&key) {
            Some(slot) if slot.deadline > now => {
                slot.deadline = deadline;
                if slot.comment != comment {
                    slot.comment = comment.to_string();
                }
                AddOutcome::Refreshed
            }
            _ => {
                let comment = comment.to_string();
                slots.insert(key, Slot { deadline, comment });
                AddOutcome::Added
            }
        }
    }

    fn is_live(&self, key: AllowKey) -> bool {
        let now = self.clock.now();
        self.slots().get(&key).is_some_and(|s| s.deadline > now)
    }

    fn list(&self) -> Vec<AllowEntry> {
        let now = self.clock.now();
        let mut entries: Vec<AllowEntry> = self
            .slots()
            .iter()
            .filter(|(_, s)| s.deadline > now)
            .map(|(key, s)| AllowEntry {
                key: *key,
                remaining: s.deadline - now,
                comment: s.comment.clone(),
            })
            .collect();
        entries.sort_by_key(|e| e.key);
        entries
    }

    fn sweep(&self) -> Vec<AllowKey> {
        let now = self.clock.now();
        let mut expired = Vec::new();
        self.slots().retain(|key, s| {
            let live = s.deadline > now;
            if !live {
                expired.push(*key);
            }
            live
        });
        expired.sort();
        expired
    }

    fn next_expiry(&self) -> Option<Duration> {
        let now = self.clock.now();
        self.slots()
            .values()
            .map(|s| s.deadline.saturating_sub(now))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allow::ManualClock;

    const COMMENT: &str = "external.service.com.";

    fn key(last: u8, port: u16) -> AllowKey {
        AllowKey {
            ip: [127, 0, 0, last].into(),
            port,
        }
    }

    fn set() -> (Arc<ManualClock>, UserspaceAllowSet) {
        let clock = Arc::new(ManualClock::new());
        let set = UserspaceAllowSet::new(clock.clone());
        (clock, set)
    }

    #[test]
    fn entries_expire_after_their_timeout() {
        let (clock, set) = set();
        assert_eq!(
            set.add(key(2, 80), COMMENT, Duration::from_secs(3)),
            AddOutcome::Added
        );
        clock.advance(Duration::from_millis(2999));
        assert!(set.is_live(key(2, 80)));
        assert!(set.sweep().is_empty());
        assert_eq!(set.next_expiry(), Some(Duration::from_millis(1)));
        clock.advance(Duration::from_millis(1));
        assert!(!set.is_live(key(2, 80)));
        assert!(set.list().is_empty());
        assert_eq!(set.sweep(), vec![key(2, 80)]);
        assert_eq!(set.next_expiry(), None);
        assert!(set.sweep().is_empty());
    }

    #[test]
    fn adding_again_restarts_the_countdown() {
        let (clock, set) = set();
        set.add(key(2, 80), COMMENT, Duration::from_secs(3));
        clock.advance(Duration::from_secs(2));
        assert_eq!(
            set.add(key(2, 80), COMMENT, Duration::from_secs(3)),
            AddOutcome::Refreshed
        );
        clock.advance(Duration::from_secs(2));
        assert!(set.is_live(key(2, 80)));
        clock.advance(Duration::from_secs(1));
        assert!(!set.is_live(key(2, 80)));
        assert_eq!(
            set.add(key(2, 80), COMMENT, Duration::from_secs(3)),
            AddOutcome::Added
        );
        assert!(set.is_live(key(2, 80)));
    }

    #[test]
    fn the_port_is_part_of_the_key() {
        let (_, set) = set();
        set.add(key(2, 80), COMMENT, Duration::from_secs(3));
        assert!(!set.is_live(key(2, 81)));
        assert!(!set.is_live(key(3, 80)));
    }

    #[test]
    fn list_renders_ipset_lines_rounding_up() {
        let (clock, set) = set();
        set.add(key(3, 41234), COMMENT, Duration::from_secs(3600));
        set.add(key(2, 41234), COMMENT, Duration::from_secs(3600));
        clock.advance(Duration::from_millis(2500));
        let lines: Vec<String> = set.list().iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                r#"127.0.0.2,tcp:41234 timeout 3598 comment "external.service.com.""#,
                r#"127.0.0.3,tcp:41234 timeout 3598 comment "external.service.com.""#,
            ]
        );
        clock.advance(Duration::from_millis(500));
        assert_eq!(
            set.list()[0].to_string(),
            r#"127.0.0.2,tcp:41234 timeout 3597 comment "external.service.com.""#
        );
    }
}
