//! `slow-requests`: a share of the requests are slow, and stay slow when retried.
//!
//! Models an app whose slow tail belongs to the requests themselves — a report over a large
//! account, a query that misses the index — rather than to the moment: a request that is slow
//! once is slow every time it is sent. The request is known by its `x-request-id`, which the
//! caller's sidecar sets once and every retry repeats, so a slow request's retries are slow
//! too: a per-try timeout below `ms` fails every attempt. A request without the header is
//! slow at random, with the same probability.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{positive, Fault, Invalid, Param};
use crate::hook::{Build, Decision, Hook, RequestInfo, Uses};

/// Parts per million: the resolution of `percent`.
const PPM: u64 = 1_000_000;

/// Parameters of `slow-requests`: `{percent: 10, ms: 300}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlowRequests {
    /// The percentage of requests (by `x-request-id`) that are slow.
    pub percent: f64,
    /// How long a slow request takes, on top of any other delay.
    pub ms: u64,
}

impl Fault for SlowRequests {
    const SUMMARY: &'static str = "make percent of the requests, chosen by their x-request-id, take ms longer, every time they are sent (a slow tail that retries do not escape)";
    const PARAMS: &'static [Param] = &[
        Param {
            name: "percent",
            kind: "percent",
            default: None,
            doc: "share of the requests that are slow, chosen by x-request-id (the same on every retry)",
        },
        Param {
            name: "ms",
            kind: "milliseconds",
            default: None,
            doc: "how much longer a slow request takes",
        },
    ];

    fn example() -> Self {
        Self {
            percent: 10.0,
            ms: 300,
        }
    }

    fn validate(&self) -> Result<(), Invalid> {
        positive("ms", self.ms)?;
        if !(self.percent > 0.0 && self.percent <= 100.0) {
            return Err(Invalid::new(
                "percent",
                format!("{} is not a percentage above 0 and at most 100", self.percent),
            ));
        }
        Ok(())
    }

    fn hook(&self, _build: &mut Build) -> Arc<dyn Hook> {
        Arc::new(SlowHook {
            threshold: ((self.percent / 100.0) * PPM as f64).round() as u64,
            delay: Duration::from_millis(self.ms),
        })
    }
}

/// Delays the requests whose id falls below the threshold.
#[derive(Debug)]
struct SlowHook {
    /// Slow when the request's draw, in parts per million, is below this.
    threshold: u64,
    delay: Duration,
}

impl SlowHook {
    fn is_slow(&self, request: &RequestInfo) -> bool {
        let draw = match request.id {
            Some(id) => mix(id) % PPM,
            None => fastrand::u64(0..PPM),
        };
        draw < self.threshold
    }
}

impl Hook for SlowHook {
    fn uses(&self) -> Uses {
        Uses::REQUESTS
    }

    fn on_request(&self, request: &RequestInfo, decision: &mut Decision) {
        if self.is_slow(request) {
            decision.delay_by(self.delay);
        }
    }
}

/// SplitMix64's finalizer: spreads the id's hash evenly over every bit before the modulo.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hook::request_id;
    use tokio::time::Instant;

    fn request(id: Option<&str>) -> RequestInfo {
        RequestInfo {
            n: 1,
            started: Instant::now(),
            id: id.map(|s| request_id(s.as_bytes())),
        }
    }

    #[test]
    fn a_slow_request_is_slow_every_time_and_the_share_is_the_percentage() {
        let hook = SlowRequests::example().hook(&mut Build::new());
        let mut slow = 0;
        for i in 0..20_000 {
            let id = format!("3f2b8c1e-7d4a-4b9e-a0c5-{i:012x}");
            let delay = |_| {
                let mut d = Decision::default();
                hook.on_request(&request(Some(&id)), &mut d);
                d.delay()
            };
            let first = delay(0);
            assert_eq!(first, delay(1), "{id}");
            if let Some(d) = first {
                assert_eq!(d, Duration::from_millis(300));
                slow += 1;
            }
        }
        assert!((1_800..=2_200).contains(&slow), "{slow} of 20000");
    }

    #[test]
    fn without_an_id_the_share_holds_at_random() {
        let hook = SlowRequests {
            percent: 50.0,
            ms: 1,
        }
        .hook(&mut Build::new());
        let slow = (0..10_000)
            .filter(|_| {
                let mut d = Decision::default();
                hook.on_request(&request(None), &mut d);
                d.delay().is_some()
            })
            .count();
        assert!((4_500..=5_500).contains(&slow), "{slow}");
    }

    #[test]
    fn out_of_range_parameters_are_rejected() {
        let none = SlowRequests {
            percent: 0.0,
            ms: 10,
        };
        assert_eq!(
            none.validate().unwrap_err(),
            Invalid::new("percent", "0 is not a percentage above 0 and at most 100")
        );
        let instant = SlowRequests {
            percent: 10.0,
            ms: 0,
        };
        assert_eq!(
            instant.validate().unwrap_err(),
            Invalid::new("ms", "0 is not a positive number")
        );
    }
}
