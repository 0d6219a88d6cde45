//! The zone table: A records per name, changed over time by the schedule.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{normalize_name, EgressConfig};
use crate::schedule::ScheduleClock;

/// The current answer for one name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer<'a> {
    /// The name as an FQDN with its trailing dot, e.g. `external.service.com.`.
    pub fqdn: &'a str,
    /// TTL of the records in seconds.
    pub ttl_s: u32,
    /// The addresses served now (empty: the name exists without A records).
    pub addresses: &'a [Ipv4Addr],
}

/// An address entering or leaving a name's answer at a scheduled time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressEvent {
    /// Time after start.
    pub at: Duration,
    /// The address concerned.
    pub ip: Ipv4Addr,
    /// `true` when the address leaves the answer, `false` when it comes back.
    pub retired: bool,
}

struct Zone {
    fqdn: String,
    ttl_s: u32,
    /// Address sets ordered by the time they take effect; the first at zero.
    versions: Vec<(Duration, Vec<Ipv4Addr>)>,
}

/// All names served, with their schedule, read at the time a [`Clock`] tells.
pub struct Zones {
    schedule: Arc<ScheduleClock>,
    zones: HashMap<String, Zone>,
}

impl Zones {
    /// Build the table from a validated configuration.
    pub fn new(config: &EgressConfig, schedule: Arc<ScheduleClock>) -> Self {
        let mut zones: HashMap<String, Zone> = config
            .zones
            .iter()
            .map(|z| {
                let name = normalize_name(&z.name);
                let zone = Zone {
                    fqdn: format!("{name}."),
                    ttl_s: z.ttl_s,
                    versions: vec![(Duration::ZERO, z.addresses.clone())],
                };
                (name, zone)
            })
            .collect();
        let mut changes: Vec<_> = config.schedule.iter().collect();
        changes.sort_by_key(|c| c.at_ms);
        for change in changes {
            if let Some(zone) = zones.get_mut(&normalize_name(&change.name)) {
                let at = Duration::from_millis(change.at_ms);
                zone.versions.push((at, change.addresses.clone()));
            }
        }
        Self { schedule, zones }
    }

    /// The answer for `name` (canonical form, see [`normalize_name`]) now; `None` for unknown names.
    pub fn lookup(&self, name: &str) -> Option<Answer<'_>> {
        let zone = self.zones.get(name)?;
        let now = self.schedule.elapsed();
        let (_, addresses) = zone
            .versions
            .iter()
            .rev()
            .find(|(at, _)| *at <= now)
            .expect("the first version starts at zero");
        Some(Answer {
            fqdn: &zone.fqdn,
            ttl_s: zone.ttl_s,
            addresses,
        })
    }

    /// Every scheduled departure and return of an address, ordered by time.
    pub fn address_events(&self) -> Vec<AddressEvent> {
        let mut events = Vec::new();
        for zone in self.zones.values() {
            for pair in zone.versions.windows(2) {
                let ((_, before), (at, after)) = (&pair[0], &pair[1]);
                let left = before.iter().filter(|ip| !after.contains(ip));
                let came = after.iter().filter(|ip| !before.contains(ip));
                events.extend(left.map(|&ip| AddressEvent {
                    at: *at,
                    ip,
                    retired: true,
                }));
                events.extend(came.map(|&ip| AddressEvent {
                    at: *at,
                    ip,
                    retired: false,
                }));
            }
        }
        events.sort_by_key(|e| (e.at, e.ip));
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allow::ManualClock;

    fn zones() -> (Arc<ManualClock>, Zones) {
        let config = EgressConfig::from_json(
            r#"{"zones":[{"name":"External.Service.COM.","addresses":["127.0.0.2"],"ttl_s":7}],
                "schedule":[{"at_ms":2000,"name":"external.service.com","addresses":["127.0.0.2"]},
                            {"at_ms":1000,"name":"external.service.com","addresses":["127.0.0.3","127.0.0.4"]}]}"#,
        )
        .unwrap();
        let clock = Arc::new(ManualClock::new());
        let schedule = ScheduleClock::new(clock.clone(), config.schedule_start);
        (clock, Zones::new(&config, Arc::new(schedule)))
    }

    fn ips(last: &[u8]) -> Vec<Ipv4Addr> {
        last.iter().map(|&l| Ipv4Addr::new(127, 0, 0, l)).collect()
    }

    #[test]
    fn the_schedule_changes_the_answer_at_its_times() {
        let (clock, zones) = zones();
        let a = zones.lookup("external.service.com").unwrap();
        assert_eq!(
            (a.fqdn, a.ttl_s, a.addresses),
            ("external.service.com.", 7, &ips(&[2])[..])
        );
        clock.advance(Duration::from_millis(999));
        assert_eq!(
            zones.lookup("external.service.com").unwrap().addresses,
            ips(&[2])
        );
        clock.advance(Duration::from_millis(1));
        assert_eq!(
            zones.lookup("external.service.com").unwrap().addresses,
            ips(&[3, 4])
        );
        clock.advance(Duration::from_millis(1000));
        assert_eq!(
            zones.lookup("external.service.com").unwrap().addresses,
            ips(&[2])
        );
        assert!(zones.lookup("other.service.com").is_none());
    }

    #[test]
    fn address_events_follow_the_schedule() {
        let (_, zones) = zones();
        let ms = Duration::from_millis;
        let ev = |at, last, retired| AddressEvent {
            at: ms(at),
            ip: Ipv4Addr::new(127, 0, 0, last),
            retired,
        };
        assert_eq!(
            zones.address_events(),
            [
                ev(1000, 2, true),
                ev(1000, 3, false),
                ev(1000, 4, false),
                ev(2000, 2, false),
                ev(2000, 3, true),
                ev(2000, 4, true)
            ]
        );
    }
}
