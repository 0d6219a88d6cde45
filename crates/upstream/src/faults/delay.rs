//! `delay`: the app takes a while to answer every request.
//!
//! Models a slow handler — a database call, a downstream service, a cold cache — as a fixed
//! time before each response, spread uniformly by `jitter_ms` either way. A delay longer than
//! the caller's route timeout makes the sidecar answer `504 UT` (Envoy's 15 s default on old
//! Istio's PassthroughCluster); under an idle timeout or a lifetime the delay also shows that
//! the app never cuts a response in flight.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{positive, Fault, Invalid, Param};
use crate::hook::{Build, Decision, Hook, RequestInfo, Uses};

/// Parameters of `delay`: `{ms: 5, jitter_ms: 1}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delay {
    /// Mean time before each response.
    pub ms: u64,
    /// Half-width of the uniform spread around `ms`; 0 when not given.
    #[serde(default)]
    pub jitter_ms: u64,
}

impl Fault for Delay {
    const SUMMARY: &'static str = "wait ms (± a uniform jitter_ms) before each response (a slow handler; beyond the route timeout the sidecar answers 504 UT)";
    const PARAMS: &'static [Param] = &[
        Param {
            name: "ms",
            kind: "milliseconds",
            default: None,
            doc: "mean time before each response",
        },
        Param {
            name: "jitter_ms",
            kind: "milliseconds",
            default: Some("0"),
            doc: "half-width of the uniform spread around ms",
        },
    ];

    fn example() -> Self {
        Self {
            ms: 5,
            jitter_ms: 1,
        }
    }

    fn validate(&self) -> Result<(), Invalid> {
        positive("ms", self.ms)?;
        if self.jitter_ms > self.ms {
            return Err(Invalid::new(
                "jitter_ms",
                format!(
                    "{} is more than ms ({}): the spread would reach below 0",
                    self.jitter_ms, self.ms
                ),
            ));
        }
        Ok(())
    }

    fn hook(&self, _build: &mut Build) -> Arc<dyn Hook> {
        Arc::new(*self)
    }
}

impl Delay {
    /// The delay of the next response.
    fn pick(&self) -> Duration {
        if self.jitter_ms == 0 {
            return Duration::from_millis(self.ms);
        }
        let spread = self.jitter_ms as i64;
        let ms = (self.ms as i64 + fastrand::i64(-spread..=spread)).max(0);
        Duration::from_millis(ms as u64)
    }
}

impl Hook for Delay {
    fn uses(&self) -> Uses {
        Uses::REQUESTS
    }

    fn on_request(&self, _request: &RequestInfo, decision: &mut Decision) {
        decision.delay_by(self.pick());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    #[test]
    fn delay_stays_within_jitter() {
        let hook = Delay {
            ms: 10,
            jitter_ms: 3,
        }
        .hook(&mut Build::new());
        let request = RequestInfo {
            n: 1,
            started: Instant::now(),
            id: None,
        };
        for _ in 0..1000 {
            let mut d = Decision::default();
            hook.on_request(&request, &mut d);
            let ms = d.delay().unwrap().as_millis();
            assert!((7..=13).contains(&ms), "{ms}");
        }
    }

    #[test]
    fn without_jitter_the_delay_is_exact() {
        let d = Delay {
            ms: 16000,
            jitter_ms: 0,
        };
        assert_eq!(d.pick(), Duration::from_secs(16));
        let parsed: Delay = serde_json::from_str(r#"{"ms":16000}"#).unwrap();
        assert_eq!(parsed, d);
    }

    #[test]
    fn a_delay_of_nothing_or_reaching_below_zero_is_rejected() {
        let none = Delay {
            ms: 0,
            jitter_ms: 0,
        };
        assert_eq!(
            none.validate().unwrap_err(),
            Invalid::new("ms", "0 is not a positive number")
        );
        let negative = Delay {
            ms: 5,
            jitter_ms: 7,
        };
        assert_eq!(
            negative.validate().unwrap_err(),
            Invalid::new(
                "jitter_ms",
                "7 is more than ms (5): the spread would reach below 0"
            )
        );
    }
}
