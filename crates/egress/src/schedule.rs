//! When the schedule's time starts: the zones' changes (`schedule`) and the gateways'
//! retirements (`retired_at_ms`) count from the process's start, or, with
//! `"schedule_start": "command"`, from the control command `START`, which the lab sends as
//! its load starts, so that a change set for 3 s comes 3 s into the load however long the
//! processes took to start. Until then the zones answer their first addresses.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::allow::Clock;

/// What the schedule's times count from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleStart {
    /// The process's start.
    #[default]
    Process,
    /// The control command `START` (see [`crate::control`]).
    Command,
}

/// The schedule's origin on the process's clock, once known.
pub struct ScheduleClock {
    clock: Arc<dyn Clock>,
    origin: watch::Sender<Option<Duration>>,
}

impl ScheduleClock {
    /// A schedule on `clock` starting as `start` says.
    pub fn new(clock: Arc<dyn Clock>, start: ScheduleStart) -> Self {
        let origin = match start {
            ScheduleStart::Process => Some(Duration::ZERO),
            ScheduleStart::Command => None,
        };
        Self {
            clock,
            origin: watch::Sender::new(origin),
        }
    }

    /// Start the schedule now, unless it has started; returns whether this call started it.
    pub fn start(&self) -> bool {
        let now = self.clock.now();
        self.origin.send_if_modified(|origin| match origin {
            Some(_) => false,
            None => {
                *origin = Some(now);
                true
            }
        })
    }

    /// The schedule's time now: zero until it starts.
    pub fn elapsed(&self) -> Duration {
        match *self.origin.borrow() {
            Some(origin) => self.clock.now().saturating_sub(origin),
            None => Duration::ZERO,
        }
    }

    /// The schedule's origin on the process's clock, once it has started.
    pub async fn origin(&self) -> Duration {
        let mut rx = self.origin.subscribe();
        let origin = *rx
            .wait_for(Option::is_some)
            .await
            .expect("the sender lives in self");
        origin.expect("waited for it")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allow::ManualClock;

    #[tokio::test]
    async fn a_command_schedule_stands_at_zero_until_started_once() {
        let clock = Arc::new(ManualClock::new());
        let s = ScheduleClock::new(clock.clone(), ScheduleStart::Command);
        clock.advance(Duration::from_millis(800));
        assert_eq!(s.elapsed(), Duration::ZERO);
        assert!(s.start());
        clock.advance(Duration::from_millis(300));
        assert!(!s.start(), "a second START changes nothing");
        assert_eq!(s.elapsed(), Duration::from_millis(300));
        assert_eq!(s.origin().await, Duration::from_millis(800));
        let p = ScheduleClock::new(clock.clone(), ScheduleStart::Process);
        assert_eq!(p.elapsed(), Duration::from_millis(1100));
        assert_eq!(p.origin().await, Duration::ZERO);
    }
}
