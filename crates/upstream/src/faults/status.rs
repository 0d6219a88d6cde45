//! `status`: the app answers a share of requests with an error status.
//!
//! Models an app that fails some of its requests on its own — `503` from an overloaded
//! handler or a circuit breaker inside the app, `500` from a bug — at random, with a fixed
//! probability per code. Envoy passes these through with no response flag: the 5xx is the
//! app's, not the sidecar's, which is what tells them apart in an access log.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::{Fault, Invalid, Param};
use crate::hook::{Build, Decision, Hook, RequestInfo, StatusSlot, Uses};

/// Parts per million: the resolution of the probabilities.
const PPM: u32 = 1_000_000;

/// Parameters of `status`: `{codes: {"503": 5.0, "500": 1.0}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Status {
    /// The percentage of requests answered with each code (keys are HTTP status codes,
    /// written as numbers or strings); the rest get 200. At most 100 in total.
    #[serde(deserialize_with = "codes_map")]
    pub codes: BTreeMap<u16, f64>,
}

impl Fault for Status {
    const SUMMARY: &'static str = "answer each status code to its percentage of requests, at random; the rest get 200 (the app's own failures: overload, bugs)";
    const PARAMS: &'static [Param] = &[Param {
        name: "codes",
        kind: "map CODE -> percent",
        default: None,
        doc: "percentage of requests answered with each code, 100 at most in total",
    }];

    fn example() -> Self {
        Self {
            codes: BTreeMap::from([(500, 1.0), (503, 5.0)]),
        }
    }

    fn validate(&self) -> Result<(), Invalid> {
        if self.codes.is_empty() {
            return Err(Invalid::new("codes", "no status code given"));
        }
        let mut total = 0.0;
        for (&code, &percent) in &self.codes {
            let field = format!("codes.{code}");
            if !(100..=999).contains(&code) {
                return Err(Invalid::new(
                    field,
                    format!("{code} is not an HTTP status code (100..=999)"),
                ));
            }
            if !(0.0..=100.0).contains(&percent) {
                return Err(Invalid::new(
                    field,
                    format!("{percent} is not a percentage between 0 and 100"),
                ));
            }
            total += percent;
        }
        if total > 100.0 + 1e-9 {
            return Err(Invalid::new(
                "codes",
                format!("the percentages add up to {total}, more than 100"),
            ));
        }
        Ok(())
    }

    fn hook(&self, build: &mut Build) -> Arc<dyn Hook> {
        let mut acc = 0.0;
        let mut thresholds = Vec::with_capacity(self.codes.len());
        let mut slots = Vec::with_capacity(self.codes.len());
        for (&code, &percent) in &self.codes {
            acc += percent;
            thresholds.push(((acc / 100.0) * f64::from(PPM)).round() as u32);
            slots.push(build.status(code));
        }
        Arc::new(StatusHook { thresholds, slots })
    }
}

/// Picks a status per request by one roll against cumulative thresholds.
#[derive(Debug)]
struct StatusHook {
    /// Cumulative thresholds in parts per million, one per code.
    thresholds: Vec<u32>,
    /// The answer of each threshold.
    slots: Vec<StatusSlot>,
}

impl Hook for StatusHook {
    fn uses(&self) -> Uses {
        Uses::REQUESTS
    }

    fn on_request(&self, _request: &RequestInfo, decision: &mut Decision) {
        if decision.status().is_some() {
            return;
        }
        let roll = fastrand::u32(0..PPM);
        if let Some(i) = self.thresholds.iter().position(|&t| roll < t) {
            decision.answer(self.slots[i]);
        }
    }
}

/// The `codes` map, whose keys may be written as numbers (`503: 5`) or strings (`"503": 5`).
fn codes_map<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<u16, f64>, D::Error> {
    let raw = BTreeMap::<CodeKey, f64>::deserialize(deserializer)?;
    Ok(raw.into_iter().map(|(k, v)| (k.0, v)).collect())
}

/// A status code as a map key.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct CodeKey(u16);

impl<'de> Deserialize<'de> for CodeKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CodeKeyVisitor)
    }
}

struct CodeKeyVisitor;

impl Visitor<'_> for CodeKeyVisitor {
    type Value = CodeKey;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an HTTP status code")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<CodeKey, E> {
        u16::try_from(v)
            .map(CodeKey)
            .map_err(|_| E::custom(format!("{v} is not an HTTP status code")))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<CodeKey, E> {
        u16::try_from(v)
            .map(CodeKey)
            .map_err(|_| E::custom(format!("{v} is not an HTTP status code")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<CodeKey, E> {
        v.trim()
            .parse()
            .map(CodeKey)
            .map_err(|_| E::custom(format!("`{v}` is not an HTTP status code")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    fn status(codes: &[(u16, f64)]) -> Status {
        Status {
            codes: codes.iter().copied().collect(),
        }
    }

    /// The status code of each of `n` decisions, 200 when none was chosen.
    fn answers(s: &Status, n: usize) -> Vec<u16> {
        let hook = s.hook(&mut Build::new());
        let request = RequestInfo {
            n: 1,
            started: Instant::now(),
            id: None,
        };
        (0..n)
            .map(|_| {
                let mut d = Decision::default();
                hook.on_request(&request, &mut d);
                d.status().map_or(200, |s| s.code().as_u16())
            })
            .collect()
    }

    #[test]
    fn full_share_always_picked() {
        assert!(answers(&status(&[(503, 100.0)]), 1000)
            .iter()
            .all(|&c| c == 503));
    }

    #[test]
    fn shares_are_roughly_respected() {
        let got = answers(&status(&[(503, 10.0), (504, 30.0)]), 100_000);
        let count = |code| got.iter().filter(|&&c| c == code).count();
        assert!((8_000..12_000).contains(&count(503)), "{}", count(503));
        assert!((27_000..33_000).contains(&count(504)), "{}", count(504));
    }

    #[test]
    fn an_answer_chosen_earlier_stays() {
        let mut build = Build::new();
        let earlier = build.status(418);
        let hook = status(&[(503, 100.0)]).hook(&mut build);
        let mut d = Decision::default();
        d.answer(earlier);
        let request = RequestInfo {
            n: 1,
            started: Instant::now(),
            id: None,
        };
        hook.on_request(&request, &mut d);
        assert_eq!(d.status(), Some(earlier));
    }

    #[test]
    fn codes_may_be_strings_or_numbers() {
        let s: Status = serde_json::from_str(r#"{"codes":{"503":5.0,"500":1}}"#).unwrap();
        assert_eq!(s, Status::example());
        let y: Status = yaml_serde::from_str("codes: {503: 5.0, \"500\": 1.0}").unwrap();
        assert_eq!(y, Status::example());
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"codes":{"500":1.0,"503":5.0}}"#
        );
    }

    #[test]
    fn bad_codes_and_percentages_are_rejected() {
        let err = |s: Status| s.validate().unwrap_err();
        assert_eq!(
            err(status(&[(503, 60.0), (504, 50.0)])),
            Invalid::new("codes", "the percentages add up to 110, more than 100")
        );
        assert_eq!(
            err(status(&[(50, 5.0)])),
            Invalid::new("codes.50", "50 is not an HTTP status code (100..=999)")
        );
        assert_eq!(
            err(status(&[(503, 101.0)])),
            Invalid::new("codes.503", "101 is not a percentage between 0 and 100")
        );
        assert_eq!(err(status(&[])).field, "codes");
        assert!(serde_json::from_str::<Status>(r#"{"codes":{"soon":5}}"#).is_err());
    }
}
