//! What a scenario's 5xx look like in an access log, and how a group of log lines is
//! matched against it.
//!
//! A scenario file carries a `signature:` block (a [`Signature`]) and a `fixes:` list; the
//! catalog turns each scenario into a [`Rule`] and `diagnose` names, for every group of 5xx
//! lines, the rule that fits it best. Nothing here knows any scenario by name.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::grouping::{Direction, GroupKey, GroupStats, Groups};
use crate::hosts::HostTracker;
use crate::timeline::BurstSummary;

/// A signature's flag for lines that log none.
const NO_FLAG: &str = "-";

/// Which way the failing call goes through the sidecar that logs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureDirection {
    /// The sidecar in front of the app (`inbound|…` clusters).
    Inbound,
    /// The app's own sidecar calling out (`outbound|…`, PassthroughCluster), or a line that
    /// does not say.
    Outbound,
    /// Either sidecar.
    Any,
}

impl SignatureDirection {
    fn admits(self, d: Direction) -> bool {
        match self {
            SignatureDirection::Inbound => d == Direction::Inbound,
            SignatureDirection::Outbound => d != Direction::Inbound,
            SignatureDirection::Any => true,
        }
    }
}

/// How long the failing requests take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DurationShape {
    /// Answered at once (a refused or reset connection): median under 100 ms.
    Instant,
    /// Answered when a timeout of whole seconds expires: median just over N s.
    AtTimeout,
    /// Cut after running a while (a connection closed under a request in flight): median
    /// 1 s or more.
    Long,
}

/// How the errors spread over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeShape {
    /// Separate bursts with quiet gaps between them.
    Bursts,
}

/// What a scenario's errors look like in the sidecar's access log.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// Which sidecar logs them.
    pub direction: SignatureDirection,
    /// The HTTP status codes it answers; `0` when no response was sent (a TCP connection,
    /// a request whose connection was closed first).
    pub codes: Vec<u16>,
    /// The response flags (a line matches with any of them; `URX,UC` carries `UC`); `-` is
    /// a line without flags (a 5xx the upstream answered, or a route's direct response),
    /// which only the details can tell apart: it needs `require_details`.
    pub flags: Vec<String>,
    /// The upstream cluster it is usually logged on: a name, or a prefix ending in `*`
    /// (`inbound|*`). A hint, like the bodies and details: lines on other clusters still match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// The local reply bodies, by size in bytes (`%BYTES_SENT%`), with their text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bodies: BTreeMap<u64, String>,
    /// The `%RESPONSE_CODE_DETAILS%` values it logs (a prefix ending in `*` matches more).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// `true`: the lines must log one of `details` (the flags alone do not tell this cause
    /// from another); absent or `false`: the details are a hint.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_details: bool,
    /// How long the failing requests take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<DurationShape>,
    /// How the errors spread over time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<TimeShape>,
    /// `true`: the calls go to a host outside the mesh (an external name or address);
    /// `false`: to a service of the mesh; absent: either.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<bool>,
    /// `true`: the log must show the external host answering from a new IP while an old
    /// one fails; `false`: it must not; absent: either.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_change: Option<bool>,
    /// `true`: the failing upstream answers again after its errors (the app came back);
    /// `false`: it answers nothing after them (the pod went away); absent: either. A hint,
    /// scored when the log has successes with times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovers: Option<bool>,
    /// `true`: the failing upstream had answered nothing before its errors (a new pod, its
    /// app not listening yet); `false`: it had answered before them; absent: either. A hint,
    /// scored when the log has successes with times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_upstream: Option<bool>,
    /// `true`: a failing upstream fails again after answering in between (an app that
    /// crashes over and over); `false`: none does; absent: either. A hint, scored when the
    /// log has successes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurs: Option<bool>,
    /// The same cause as other sidecars log it (the server's side of a caller's error),
    /// each matched like this signature; they have no `also` of their own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<Signature>,
}

impl Signature {
    /// Check what the types cannot: a name the message can point at (`field`), and why.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.codes.is_empty() {
            return Err(("codes".into(), "list at least one status code".into()));
        }
        if let Some(c) = self
            .codes
            .iter()
            .find(|&&c| c != 0 && !(100..=599).contains(&c))
        {
            return Err((
                "codes".into(),
                format!("{c} is not an HTTP status code (or 0, no response)"),
            ));
        }
        if self.flags.is_empty() {
            return Err(("flags".into(), "list at least one response flag".into()));
        }
        if let Some(f) = self.flags.iter().find(|f| {
            f.as_str() != NO_FLAG && (f.is_empty() || !f.bytes().all(|b| b.is_ascii_uppercase()))
        }) {
            return Err((
                "flags".into(),
                format!(
                    "{f:?} is not a response flag (upper-case letters, e.g. UC, or - for none)"
                ),
            ));
        }
        if self.flags.iter().any(|f| f == NO_FLAG) && !self.require_details {
            return Err((
                "flags".into(),
                "`-` (no flag) matches every answer the upstream gave itself: name the details that tell this one (`details`, `require_details: true`)".into(),
            ));
        }
        if self.ip_change == Some(true) && self.external != Some(true) {
            return Err((
                "ip_change".into(),
                "an IP change needs `external: true` (it is seen on an external host)".into(),
            ));
        }
        if self.require_details && self.details.is_empty() {
            return Err((
                "require_details".into(),
                "list the details the lines must log in `details`".into(),
            ));
        }
        for (i, other) in self.also.iter().enumerate() {
            if !other.also.is_empty() {
                return Err((format!("also[{i}].also"), "one level of `also` only".into()));
            }
            other
                .validate()
                .map_err(|(field, why)| (format!("also[{i}].{field}"), why))?;
        }
        Ok(())
    }
}

/// A fix a scenario names, and the variant that measures it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Fix {
    /// What to change, in words.
    pub fix: String,
    /// The variant of the scenario that measures it, if one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// A scenario as `diagnose` knows it: its name, signature and fixes.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The scenario's name.
    pub scenario: String,
    /// What its errors look like.
    pub signature: Signature,
    /// Its fixes, best first, each with what it costs when the scenario says.
    pub fixes: Vec<RuleFix>,
}

/// A scenario whose errors never reach istio-proxy, so no access log shows them: `diagnose`
/// names it for people to keep in mind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unlogged {
    /// The scenario's name.
    pub scenario: String,
    /// What the app sees instead.
    pub seen: String,
}

/// A fix as `diagnose` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleFix {
    /// What to change.
    pub fix: String,
    /// The command that measures it in the lab.
    pub measured_by: Option<String>,
    /// What it costs, from the measuring variant.
    pub cost: Option<String>,
}

/// What a group of log lines shows, as the signatures read it.
#[derive(Debug)]
pub struct Observed<'a> {
    pub(crate) key: &'a GroupKey,
    pub(crate) stats: &'a GroupStats,
    pub(crate) bursts: Option<&'a BurstSummary>,
    /// The external host most lines went to, if any.
    pub(crate) external: Option<&'a str>,
    /// The external host's IP change, in words, if the log shows one.
    pub(crate) ip_change: Option<String>,
    /// The median duration in milliseconds.
    pub(crate) median_ms: Option<u64>,
    /// Whether the upstreams that failed answered below 500 again after their last error,
    /// when the log says.
    pub(crate) recovered: Option<bool>,
    /// Whether the upstreams that failed had answered nothing below 500 before their first
    /// error, when the log says.
    pub(crate) new_upstream: Option<bool>,
    /// Whether an upstream that failed answered below 500 and then failed again, when the
    /// log says.
    pub(crate) recurs: Option<bool>,
}

impl<'a> Observed<'a> {
    /// What the group `key`/`stats` shows, with the log's external hosts in `hosts`.
    pub(crate) fn new(
        key: &'a GroupKey,
        stats: &'a GroupStats,
        bursts: Option<&'a BurstSummary>,
        groups: &Groups,
    ) -> Self {
        let hosts = &groups.hosts;
        let external = if key.direction.is_egress() {
            stats.external_hosts.most_common()
        } else {
            None
        };
        Observed {
            key,
            stats,
            bursts,
            external,
            ip_change: external.and_then(|name| ip_change(name, hosts)),
            median_ms: (!stats.durations.is_empty())
                .then(|| stats.durations.value_at_quantile(0.5)),
            recovered: groups.recovered(stats),
            new_upstream: groups.new_upstreams(stats),
            recurs: groups.recurs(stats),
        }
    }

    /// Whether the median duration is just over a whole number of seconds.
    pub(crate) fn at_timeout(&self) -> bool {
        self.median_ms
            .is_some_and(|m| m >= 1000 && m % 1000 <= m / 100)
    }

    fn has_flag(&self, wanted: &[String]) -> bool {
        self.key
            .flags
            .split(',')
            .any(|f| wanted.iter().any(|w| w == f))
    }
}

/// Whether `value` is `pattern`, or starts with it when `pattern` ends in `*`.
fn pattern_matches(pattern: &str, value: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => value.starts_with(prefix),
        None => value == pattern,
    }
}

impl Signature {
    /// How well `o` fits: `None` when a required trait (direction, code, flag, external
    /// host, IP change) is missing, else the number of hints (cluster, body, details,
    /// duration, time shape, recovery) that agree: more is a closer fit.
    pub(crate) fn score(&self, o: &Observed<'_>) -> Option<u32> {
        let detail = o.stats.details.most_common();
        let detail_matches =
            detail.is_some_and(|d| self.details.iter().any(|p| pattern_matches(p, d)));
        let required = self.direction.admits(o.key.direction)
            && self.codes.contains(&o.key.code)
            && o.has_flag(&self.flags)
            && (!self.require_details || detail_matches)
            && self
                .external
                .is_none_or(|want| want == o.external.is_some())
            && self
                .ip_change
                .is_none_or(|want| want == o.ip_change.is_some());
        if !required {
            return None;
        }
        let body = o
            .stats
            .bytes_sent
            .most_common()
            .and_then(|b| b.parse::<u64>().ok());
        let soft = [
            self.cluster
                .as_deref()
                .zip(o.key.cluster.as_deref())
                .is_some_and(|(p, c)| pattern_matches(p, c)),
            body.is_some_and(|b| self.bodies.contains_key(&b)),
            detail_matches,
            match self.duration {
                Some(DurationShape::Instant) => o.median_ms.is_some_and(|m| m < 100),
                Some(DurationShape::AtTimeout) => o.at_timeout(),
                Some(DurationShape::Long) => o.median_ms.is_some_and(|m| m >= 1000),
                None => false,
            },
            self.time == Some(TimeShape::Bursts) && o.bursts.is_some_and(|b| b.bursts > 1),
            self.ip_change == Some(true),
            self.recovers.is_some_and(|want| o.recovered == Some(want)),
            self.new_upstream
                .is_some_and(|want| o.new_upstream == Some(want)),
            self.recurs.is_some_and(|want| o.recurs == Some(want)),
        ];
        Some(soft.iter().filter(|s| **s).count() as u32)
    }
}

impl Signature {
    /// How well `o` fits this signature or the best fitting of its `also`s.
    pub(crate) fn best_score(&self, o: &Observed<'_>) -> Option<u32> {
        std::iter::once(self)
            .chain(&self.also)
            .filter_map(|s| s.score(o))
            .max()
    }
}

/// Of `candidates`, the one whose signature fits `o` best (the first of equals), if any fits.
pub(crate) fn best<'r, T>(
    candidates: &'r [T],
    signature: impl Fn(&T) -> &Signature,
    o: &Observed<'_>,
) -> Option<&'r T> {
    let mut best: Option<(&T, u32)> = None;
    for candidate in candidates {
        if let Some(score) = signature(candidate).best_score(o) {
            if best.is_none_or(|(_, s)| score > s) {
                best = Some((candidate, score));
            }
        }
    }
    best.map(|(candidate, _)| candidate)
}

/// Describes an IP change of `name`: an older IP that failed while a newer one appeared.
fn ip_change(name: &str, hosts: &HostTracker) -> Option<String> {
    let ips = hosts.ips(name);
    let old = ips.iter().find(|s| s.errors > 0)?;
    let new = ips
        .iter()
        .find(|s| s.host != old.host && s.first_ms > old.first_ms && s.ok > 0)?;
    Some(format!(
        "{name} moved from {} ({} ok, {} failed) to {} ({} ok)",
        old.host, old.ok, old.errors, new.host, new.ok
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signature(yaml_like: serde_json::Value) -> Signature {
        serde_json::from_value(yaml_like).unwrap()
    }

    #[test]
    fn patterns_match_names_and_prefixes() {
        assert!(pattern_matches("inbound|*", "inbound|80|http|srv-a"));
        assert!(!pattern_matches("inbound|*", "outbound|80||srv-a"));
        assert!(pattern_matches("PassthroughCluster", "PassthroughCluster"));
        assert!(!pattern_matches(
            "PassthroughCluster",
            "PassthroughCluster;"
        ));
    }

    #[test]
    fn a_signature_needs_codes_and_flags_and_says_which_field_is_wrong() {
        let s = signature(serde_json::json!({"direction": "inbound", "codes": [503], "flags": []}));
        assert_eq!(s.validate().unwrap_err().0, "flags");
        let s =
            signature(serde_json::json!({"direction": "inbound", "codes": [42], "flags": ["UC"]}));
        assert_eq!(s.validate().unwrap_err().0, "codes");
        let s =
            signature(serde_json::json!({"direction": "inbound", "codes": [503], "flags": ["uc"]}));
        assert!(s.validate().unwrap_err().1.contains("\"uc\""));
        let s = signature(
            serde_json::json!({"direction": "outbound", "codes": [503], "flags": ["UF"], "ip_change": true}),
        );
        assert_eq!(s.validate().unwrap_err().0, "ip_change");
        // No response at all is a code: a connection closed before one.
        let s = signature(serde_json::json!({"direction": "any", "codes": [0], "flags": ["DC"]}));
        assert_eq!(s.validate(), Ok(()));
        let s = signature(
            serde_json::json!({"direction": "inbound", "codes": [0], "flags": ["NR"], "require_details": true}),
        );
        assert_eq!(s.validate().unwrap_err().0, "require_details");
        let s = signature(serde_json::json!({
            "direction": "outbound", "codes": [503], "flags": ["UC"],
            "also": [{"direction": "inbound", "codes": [1000], "flags": ["DC"]}]
        }));
        assert_eq!(s.validate().unwrap_err().0, "also[0].codes");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let e = serde_json::from_value::<Signature>(
            serde_json::json!({"direction": "inbound", "codes": [503], "flags": ["UC"], "flag": "UC"}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("flag"), "{e}");
    }
}
