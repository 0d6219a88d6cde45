//! Expectations of a variant and their check against what a run observed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a variant must show for the lab to call it reproduced (or fixed).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// At least this many requests must have been sent.
    #[serde(default)]
    pub min_requests: u64,
    /// Client-visible error rate at least this (a reproduction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_error_rate: Option<f64>,
    /// Client-visible error rate at most this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_error_rate: Option<f64>,
    /// Client-visible errors at most this many (0 for a full fix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_errors: Option<u64>,
    /// Every error the client saw carries one of these flags (e.g. `UC`; `URX,UC` counts as
    /// `UC`); `-` stands for errors without a flag (the app's own 5xx, or no response).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_flags: Vec<String>,
    /// Minimum count of each flag in the server sidecars' access logs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub server_sidecar_min: BTreeMap<String, u64>,
    /// Minimum count of each flag in the client sidecar's access log.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub client_sidecar_min: BTreeMap<String, u64>,
    /// The client's median latency at least this many ms: a delay the mechanism adds to
    /// every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_p50_ms: Option<f64>,
    /// Minimum count of each kind of attempt the client got no response for (`no_banner`,
    /// `timeout`, `reset`, …; `mesh5xx loadgen`'s transport error kinds).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub transport_errors_min: BTreeMap<String, u64>,
    /// The error-free timeline must show at least this many separate error bursts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_bursts: Option<u64>,
    /// Why a residual error count is expected, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residual: Option<String>,
}

/// What a run of one variant observed, as the expectation reads it.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub requests: u64,
    pub errors: u64,
    /// Flag string → count over the client's error responses (5xx).
    pub error_flags: BTreeMap<String, u64>,
    /// Flag → count over the server sidecars' access logs.
    pub server_sidecar_flags: BTreeMap<String, u64>,
    /// Flag → count over the client sidecar's access log.
    pub client_sidecar_flags: BTreeMap<String, u64>,
    /// Errors per second, in order.
    pub errors_per_second: Vec<u64>,
    /// Kind → count of the client's attempts without a response.
    pub transport_errors: BTreeMap<String, u64>,
    /// The client's median latency, ms.
    pub p50_ms: f64,
}

/// The outcome of checking one expectation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub passed: bool,
    /// One sentence per failed clause.
    pub failures: Vec<String>,
}

impl Expectation {
    /// Check what the types cannot: every flag it names is an Envoy response flag, rates
    /// lie in 0..=1. Returns the field at fault and why.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let flags = self
            .error_flags
            .iter()
            .map(|f| ("error_flags", f))
            .chain(
                self.server_sidecar_min
                    .keys()
                    .map(|f| ("server_sidecar_min", f)),
            )
            .chain(
                self.client_sidecar_min
                    .keys()
                    .map(|f| ("client_sidecar_min", f)),
            );
        for (field, flag) in flags {
            // `-`: an error without a sidecar flag (the app's own 5xx, or no response).
            let unflagged = field == "error_flags" && flag == "-";
            if !unflagged && !mesh5xx_accesslog::RESPONSE_FLAGS.contains(&flag.as_str()) {
                return Err((
                    field.to_string(),
                    format!(
                        "value {flag:?}: not an Envoy response flag (expected one of {})",
                        mesh5xx_accesslog::RESPONSE_FLAGS.join(", ")
                    ),
                ));
            }
        }
        for kind in self.transport_errors_min.keys() {
            if !mesh5xx_loadgen::TransportErrorKind::ALL
                .iter()
                .any(|k| k.as_str() == kind)
            {
                let known: Vec<&str> = mesh5xx_loadgen::TransportErrorKind::ALL
                    .iter()
                    .map(|k| k.as_str())
                    .collect();
                return Err((
                    "transport_errors_min".to_string(),
                    format!(
                        "value {kind:?}: not a transport error kind (expected one of {})",
                        known.join(", ")
                    ),
                ));
            }
        }
        for (field, rate) in [
            ("min_error_rate", self.min_error_rate),
            ("max_error_rate", self.max_error_rate),
        ] {
            if let Some(r) = rate.filter(|r| !(0.0..=1.0).contains(r)) {
                return Err((
                    field.to_string(),
                    format!("value {r}: a rate is between 0 and 1 (0.05 is 5 %)"),
                ));
            }
        }
        Ok(())
    }

    /// Check `obs` against every clause of this expectation.
    pub fn check(&self, obs: &Observed) -> Verdict {
        let mut failures = Vec::new();
        let rate = if obs.requests == 0 {
            0.0
        } else {
            obs.errors as f64 / obs.requests as f64
        };
        if obs.requests < self.min_requests {
            failures.push(format!(
                "{} requests, fewer than the {} expected",
                obs.requests, self.min_requests
            ));
        }
        if let Some(min) = self.min_error_rate {
            if rate < min {
                failures.push(format!(
                    "error rate {:.3} % is below the expected {:.3} %",
                    rate * 100.0,
                    min * 100.0
                ));
            }
        }
        if let Some(max) = self.max_error_rate {
            if rate > max {
                failures.push(format!(
                    "error rate {:.3} % is above the allowed {:.3} %",
                    rate * 100.0,
                    max * 100.0
                ));
            }
        }
        if let Some(max) = self.max_errors {
            if obs.errors > max {
                failures.push(format!(
                    "{} errors, more than the {} allowed",
                    obs.errors, max
                ));
            }
        }
        if !self.error_flags.is_empty() {
            for (flag, n) in &obs.error_flags {
                // `URX,UC` (retries exhausted on UC) counts as UC: any listed flag in it will do.
                if !flag
                    .split(',')
                    .any(|f| self.error_flags.iter().any(|want| want == f))
                {
                    failures.push(format!(
                        "{n} errors with flags {flag:?}, expected only {:?}",
                        self.error_flags
                    ));
                }
            }
        }
        for (which, want, got) in [
            (
                "server",
                &self.server_sidecar_min,
                &obs.server_sidecar_flags,
            ),
            (
                "client",
                &self.client_sidecar_min,
                &obs.client_sidecar_flags,
            ),
        ] {
            for (flag, min) in want {
                let n = got.get(flag).copied().unwrap_or(0);
                if n < *min {
                    failures.push(format!(
                        "{which} sidecar logged {n} × {flag}, expected at least {min}"
                    ));
                }
            }
        }
        if let Some(min) = self.min_p50_ms {
            if obs.p50_ms < min {
                failures.push(format!(
                    "median latency {:.1} ms is below the expected {min} ms",
                    obs.p50_ms
                ));
            }
        }
        for (kind, min) in &self.transport_errors_min {
            let n = obs.transport_errors.get(kind).copied().unwrap_or(0);
            if n < *min {
                failures.push(format!(
                    "the client got {n} × {kind}, expected at least {min}"
                ));
            }
        }
        if let Some(min) = self.min_bursts {
            let bursts = count_bursts(&obs.errors_per_second);
            if bursts < min {
                failures.push(format!(
                    "{bursts} error bursts in the timeline, expected at least {min}"
                ));
            }
        }
        Verdict {
            passed: failures.is_empty(),
            failures,
        }
    }
}

/// Runs of seconds with errors separated by at least one error-free second.
pub fn count_bursts(errors_per_second: &[u64]) -> u64 {
    let mut bursts = 0;
    let mut inside = false;
    for &e in errors_per_second {
        if e > 0 && !inside {
            bursts += 1;
        }
        inside = e > 0;
    }
    bursts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(requests: u64, errors: u64, flags: &[(&str, u64)]) -> Observed {
        Observed {
            requests,
            errors,
            error_flags: flags.iter().map(|(f, n)| (f.to_string(), *n)).collect(),
            ..Observed::default()
        }
    }

    #[test]
    fn transport_errors_and_latency_are_counted_by_kind() {
        let e = Expectation {
            transport_errors_min: [("no_banner".to_string(), 100)].into(),
            min_p50_ms: Some(100.0),
            ..Default::default()
        };
        e.validate().unwrap();
        let mut o = obs(120, 120, &[("-", 120)]);
        o.transport_errors = [("no_banner".to_string(), 120)].into();
        o.p50_ms = 2000.0;
        assert!(e.check(&o).passed);
        o.transport_errors = [("timeout".to_string(), 120)].into();
        o.p50_ms = 3.0;
        let v = e.check(&o);
        assert_eq!(v.failures.len(), 2, "{v:?}");
        assert!(
            v.failures.iter().any(|f| f.contains("0 × no_banner")),
            "{v:?}"
        );
        let bad = Expectation {
            transport_errors_min: [("banner".to_string(), 1)].into(),
            ..Default::default()
        };
        let (field, why) = bad.validate().unwrap_err();
        assert_eq!(field, "transport_errors_min");
        assert!(why.contains("no_banner"), "{why}");
    }

    #[test]
    fn reproduction_needs_rate_and_flag() {
        let e = Expectation {
            min_requests: 2000,
            min_error_rate: Some(0.01),
            error_flags: vec!["UC".into()],
            ..Default::default()
        };
        assert!(e.check(&obs(3000, 60, &[("UC", 60)])).passed);
        let v = e.check(&obs(3000, 10, &[("UC", 10)]));
        assert!(!v.passed && v.failures[0].contains("below"), "{v:?}");
        assert!(e.check(&obs(3000, 60, &[("URX,UC", 60)])).passed);
        let v = e.check(&obs(3000, 60, &[("UF", 60)]));
        assert!(!v.passed && v.failures[0].contains("UF"), "{v:?}");
        assert!(!e.check(&obs(100, 60, &[("UC", 60)])).passed);
    }

    #[test]
    fn fix_needs_zero_errors_and_sidecar_counts() {
        let e = Expectation {
            max_errors: Some(0),
            server_sidecar_min: [("UC".to_string(), 1)].into(),
            ..Default::default()
        };
        let mut o = obs(10_000, 0, &[]);
        assert!(!e.check(&o).passed);
        o.server_sidecar_flags.insert("UC".into(), 5);
        assert!(e.check(&o).passed);
        o.errors = 1;
        assert!(!e.check(&o).passed);
    }

    #[test]
    fn unknown_flags_and_rates_over_one_are_refused_naming_the_field() {
        let e = Expectation {
            error_flags: vec!["UC".into(), "UX".into()],
            ..Default::default()
        };
        let (field, why) = e.validate().unwrap_err();
        assert_eq!(field, "error_flags");
        assert!(why.contains("\"UX\""), "{why}");
        let e = Expectation {
            server_sidecar_min: [("uc".to_string(), 1)].into(),
            ..Default::default()
        };
        assert_eq!(e.validate().unwrap_err().0, "server_sidecar_min");
        let e = Expectation {
            min_error_rate: Some(5.0),
            ..Default::default()
        };
        assert_eq!(e.validate().unwrap_err().0, "min_error_rate");
    }

    #[test]
    fn bursts_are_runs_separated_by_quiet_seconds() {
        assert_eq!(count_bursts(&[0, 3, 4, 0, 0, 2, 0, 1]), 3);
        assert_eq!(count_bursts(&[0, 0]), 0);
        assert_eq!(count_bursts(&[1, 1, 1]), 1);
    }
}
