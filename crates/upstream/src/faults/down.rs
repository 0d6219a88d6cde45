//! `down`: the app goes away for a while — it stops listening and every open connection is
//! closed — then listens again on the same port.
//!
//! Models an app that crashes and restarts, is OOM-killed, or is redeployed in place: while
//! it is down nothing listens on its port, so the kernel refuses connects and the sidecar
//! answers `503 UF` (and `URX` once its retries are used up). Each window counts from the
//! server's start, or — with `after_first_request`, as in a cluster where the app starts long
//! before the load reaches it — from the first request it receives (a connection without a
//! request, like a readiness probe, does not start the count).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Fault, Invalid, Param};
use crate::hook::{Build, Hook, ScheduledDown, Uses};

/// Parameters of `down`: `{windows: [{at_ms: 2000, for_ms: 2000}], after_first_request: false}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Down {
    /// The outages, not overlapping, in any order.
    pub windows: Vec<DownWindow>,
    /// Count each window's `at_ms` from the first request instead of from the start;
    /// `false` when not given.
    #[serde(default)]
    pub after_first_request: bool,
}

/// One outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownWindow {
    /// When the app goes down, after the start (or the first request).
    pub at_ms: u64,
    /// How long it stays down.
    pub for_ms: u64,
}

impl Fault for Down {
    const SUMMARY: &'static str = "stop listening and close every connection at at_ms for for_ms, then listen again on the same port (a crash and restart, an OOM kill); connects are refused meanwhile";
    const PARAMS: &'static [Param] = &[
        Param {
            name: "windows",
            kind: "list of {at_ms, for_ms}",
            default: None,
            doc: "the outages, not overlapping",
        },
        Param {
            name: "after_first_request",
            kind: "bool",
            default: Some("false"),
            doc: "count at_ms from the first request instead of from the start",
        },
    ];

    fn example() -> Self {
        Self {
            windows: vec![DownWindow {
                at_ms: 2000,
                for_ms: 2000,
            }],
            after_first_request: false,
        }
    }

    fn validate(&self) -> Result<(), Invalid> {
        if self.windows.is_empty() {
            return Err(Invalid::new(
                "windows",
                "no window given (leave the fault out for an app that stays up)",
            ));
        }
        for (i, w) in self.windows.iter().enumerate() {
            if w.for_ms == 0 {
                return Err(Invalid::new(
                    format!("windows[{i}].for_ms"),
                    "0 is not a positive number",
                ));
            }
        }
        let mut sorted = self.windows.clone();
        sorted.sort_by_key(|w| w.at_ms);
        for pair in sorted.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if a.at_ms + a.for_ms > b.at_ms {
                return Err(Invalid::new(
                    "windows",
                    format!(
                        "{{at_ms: {}, for_ms: {}}} overlaps {{at_ms: {}, for_ms: {}}}",
                        a.at_ms, a.for_ms, b.at_ms, b.for_ms
                    ),
                ));
            }
        }
        Ok(())
    }

    fn hook(&self, _build: &mut Build) -> Arc<dyn Hook> {
        let mut windows: Vec<ScheduledDown> = self
            .windows
            .iter()
            .map(|w| ScheduledDown {
                at: Duration::from_millis(w.at_ms),
                duration: Duration::from_millis(w.for_ms),
                from_first_request: self.after_first_request,
            })
            .collect();
        windows.sort_by_key(|w| w.at);
        Arc::new(DownHook { windows })
    }
}

/// Hands the core the listener's outages.
#[derive(Debug)]
struct DownHook {
    windows: Vec<ScheduledDown>,
}

impl Hook for DownHook {
    fn uses(&self) -> Uses {
        Uses::START_ONLY
    }

    fn down_windows(&self) -> Vec<ScheduledDown> {
        self.windows.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(at_ms: u64, for_ms: u64) -> DownWindow {
        DownWindow { at_ms, for_ms }
    }

    fn down(windows: Vec<DownWindow>) -> Down {
        Down {
            windows,
            after_first_request: false,
        }
    }

    #[test]
    fn windows_come_out_in_time_order_with_their_origin() {
        let d = Down {
            windows: vec![window(5000, 100), window(3000, 2000)],
            after_first_request: true,
        };
        d.validate().unwrap();
        let got = d.hook(&mut Build::new()).down_windows();
        let at: Vec<u64> = got.iter().map(|w| w.at.as_millis() as u64).collect();
        assert_eq!(at, [3000, 5000]);
        assert!(got.iter().all(|w| w.from_first_request));
        assert_eq!(got[0].duration, Duration::from_millis(2000));
    }

    #[test]
    fn overlapping_windows_are_rejected() {
        let err = down(vec![window(4000, 500), window(3000, 2000)])
            .validate()
            .unwrap_err();
        assert_eq!(
            err,
            Invalid::new(
                "windows",
                "{at_ms: 3000, for_ms: 2000} overlaps {at_ms: 4000, for_ms: 500}"
            )
        );
    }

    #[test]
    fn empty_or_zero_length_windows_are_rejected() {
        assert_eq!(down(vec![]).validate().unwrap_err().field, "windows");
        assert_eq!(
            down(vec![window(0, 10), window(100, 0)])
                .validate()
                .unwrap_err(),
            Invalid::new("windows[1].for_ms", "0 is not a positive number")
        );
    }

    #[test]
    fn after_first_request_defaults_to_false() {
        let d: Down = serde_json::from_str(r#"{"windows":[{"at_ms":2000,"for_ms":2000}]}"#).unwrap();
        assert_eq!(d, Down::example());
        assert!(serde_json::from_str::<Down>(r#"{"windows":[{"at":1,"for_ms":2}]}"#).is_err());
    }
}
