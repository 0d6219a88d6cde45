//! One variant's result over its runs: counts summed, spread recorded, passed only if every
//! run passed. How each figure is pooled is documented on [`VariantResult`].

use std::collections::BTreeMap;

use crate::stats::RateStats;
use crate::summary::{Latency, RunResult, Second, SidecarCounts, VariantResult};

/// Pool the runs of one variant, each with its round (from 1), in round order. `name_runs`
/// prefixes the pooled failures with their run (`run 3: …`), for a variant run repeatedly.
/// The pooled result's `dir` is the variant's name (its runs' directories are under it).
///
/// # Panics
/// When `runs` is empty.
pub fn pool(runs: &[(u32, VariantResult)], name_runs: bool) -> VariantResult {
    let (_, first) = runs.first().expect("a variant to pool has a run");
    let mut pooled = first.clone();
    for (_, r) in &runs[1..] {
        add(&mut pooled, r);
    }
    if runs.len() > 1 {
        pooled.error_rate = rate(pooled.errors, pooled.requests);
        pooled.throughput_rps = if pooled.duration_s > 0.0 {
            pooled.requests as f64 / pooled.duration_s
        } else {
            0.0
        };
        pooled.latency_ms = latency(runs.iter().map(|(_, r)| r));
    }
    pooled.passed = runs.iter().all(|(_, r)| r.passed);
    pooled.failures = runs
        .iter()
        .flat_map(|(round, r)| {
            r.failures.iter().map(move |f| match name_runs {
                true => format!("run {round}: {f}"),
                false => f.clone(),
            })
        })
        .collect();
    pooled.dir = first.name.clone();
    pooled.runs = runs.iter().map(|(round, r)| run(*round, r)).collect();
    pooled.error_rate_stats = Some(RateStats::of(&pooled.run_counts()));
    pooled
}

/// The entry of `runs` for one run.
fn run(round: u32, r: &VariantResult) -> RunResult {
    RunResult {
        round,
        requests: r.requests,
        errors: r.errors,
        error_rate: r.error_rate,
        flags: r.flags.clone(),
        latency_ms: r.latency_ms.clone(),
        passed: r.passed,
        failures: r.failures.clone(),
        dir: r.dir.clone(),
    }
}

/// Add the counts of `r` to `into`.
fn add(into: &mut VariantResult, r: &VariantResult) {
    into.duration_s += r.duration_s;
    into.requests += r.requests;
    into.errors += r.errors;
    into.sockets_opened += r.sockets_opened;
    into.sockets_ideal += r.sockets_ideal;
    for (into, from) in [
        (&mut into.responses, &r.responses),
        (&mut into.flags, &r.flags),
        (&mut into.transport_errors, &r.transport_errors),
        (&mut into.app_connections, &r.app_connections),
    ] {
        add_counts(into, from);
    }
    add_timeline(&mut into.timeline, &r.timeline);
    for s in &r.sidecars {
        match into
            .sidecars
            .iter_mut()
            .find(|x| x.pod == s.pod && x.role == s.role)
        {
            Some(x) => add_sidecar(x, s),
            None => into.sidecars.push(s.clone()),
        }
    }
    if let (Some(into), Some(from)) = (&mut into.egress, &r.egress) {
        into.add(from);
    }
}

fn add_counts(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (k, n) in from {
        *into.entry(k.clone()).or_default() += n;
    }
}

/// Second `t` of `from` added to second `t` of `into` (seconds since each run's start).
fn add_timeline(into: &mut Vec<Second>, from: &[Second]) {
    for s in from {
        match into.iter_mut().find(|x| x.t == s.t) {
            Some(x) => {
                x.requests += s.requests;
                x.errors += s.errors;
                add_counts(&mut x.flags, &s.flags);
            }
            None => into.push(s.clone()),
        }
    }
    into.sort_by_key(|s| s.t);
}

fn add_sidecar(into: &mut SidecarCounts, from: &SidecarCounts) {
    into.requests += from.requests;
    into.unparsed += from.unparsed;
    add_counts(&mut into.responses, &from.responses);
    add_counts(&mut into.flags, &from.flags);
    add_counts(&mut into.clusters, &from.clusters);
    if into.sample_error_line.is_none() {
        into.sample_error_line.clone_from(&from.sample_error_line);
    }
}

/// The whole-number fields of a JSON object summed; everything else stays as it was.
/// Latency over runs: mean weighted by requests, the largest max, each percentile the median
/// of the runs' values.
fn latency<'a>(runs: impl Iterator<Item = &'a VariantResult> + Clone) -> Latency {
    let median = |pick: fn(&Latency) -> f64| {
        let mut xs: Vec<f64> = runs.clone().map(|r| pick(&r.latency_ms)).collect();
        xs.sort_by(f64::total_cmp);
        let mid = xs.len() / 2;
        if xs.len() % 2 == 1 {
            xs[mid]
        } else {
            (xs[mid - 1] + xs[mid]) / 2.0
        }
    };
    let requests: u64 = runs.clone().map(|r| r.requests).sum();
    let weighted: f64 = runs
        .clone()
        .map(|r| r.latency_ms.mean * r.requests as f64)
        .sum();
    Latency {
        p50: median(|l| l.p50),
        p90: median(|l| l.p90),
        p99: median(|l| l.p99),
        p999: median(|l| l.p999),
        max: runs.map(|r| r.latency_ms.max).fold(0.0, f64::max),
        mean: if requests > 0 {
            weighted / requests as f64
        } else {
            0.0
        },
    }
}

fn rate(errors: u64, requests: u64) -> f64 {
    if requests == 0 {
        0.0
    } else {
        errors as f64 / requests as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::CiMethod;
    use crate::summary::EgressSummary;

    fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(k, n)| (k.to_string(), *n)).collect()
    }

    fn one_run(errors: u64, p99: f64, failure: Option<&str>, dir: &str) -> VariantResult {
        let requests = 1000;
        VariantResult {
            name: "baseline".into(),
            description: "d".into(),
            duration_s: 2.0,
            requests,
            responses: counts(&[("200", requests - errors), ("503", errors)]),
            flags: counts(&[("-", requests - errors), ("UC", errors)]),
            transport_errors: BTreeMap::new(),
            errors,
            error_rate: errors as f64 / requests as f64,
            latency_ms: Latency {
                p50: 1.0,
                p90: 2.0,
                p99,
                p999: p99,
                max: p99 * 2.0,
                mean: p99 / 10.0,
            },
            throughput_rps: 500.0,
            sockets_opened: 8,
            sockets_ideal: 8,
            timeline: vec![
                Second {
                    t: 0,
                    requests: 500,
                    errors,
                    flags: counts(&[("UC", errors)]),
                },
                Second {
                    t: 1,
                    requests: 500,
                    errors: 0,
                    flags: BTreeMap::new(),
                },
            ],
            sidecars: vec![SidecarCounts {
                pod: "srv-a-0".into(),
                role: "server".into(),
                requests,
                flags: counts(&[("UC", errors)]),
                ..Default::default()
            }],
            app_connections: counts(&[("opened", 8)]),
            egress: Some(EgressSummary {
                allow_added: 2,
                ipset: vec!["a".into()],
                ..Default::default()
            }),
            expect: serde_json::json!({}),
            passed: failure.is_none(),
            failures: failure.map(String::from).into_iter().collect(),
            dir: dir.into(),
            runs: Vec::new(),
            error_rate_stats: None,
            marks: Vec::new(),
        }
    }

    #[test]
    fn one_run_is_itself_with_its_run_and_a_wilson_interval() {
        let r = one_run(10, 30.0, None, "baseline");
        let p = pool(&[(1, r.clone())], false);
        assert_eq!((p.requests, p.errors, p.error_rate), (1000, 10, 0.01));
        assert_eq!((p.throughput_rps, p.latency_ms.p99), (500.0, 30.0));
        assert_eq!(p.runs.len(), 1);
        assert_eq!((p.runs[0].round, p.runs[0].dir.as_str()), (1, "baseline"));
        let s = p.error_rate_stats.unwrap();
        assert_eq!((s.n, s.method), (1, CiMethod::Wilson));
    }

    #[test]
    fn runs_are_summed_and_failures_name_their_run() {
        let runs = [
            (1, one_run(10, 30.0, None, "baseline/run-1")),
            (
                2,
                one_run(30, 50.0, Some("too many errors"), "baseline/run-2"),
            ),
            (3, one_run(20, 10.0, None, "baseline/run-3")),
        ];
        let p = pool(&runs, true);
        assert_eq!((p.requests, p.errors), (3000, 60));
        assert_eq!(p.error_rate, 0.02);
        assert_eq!(p.flags["UC"], 60);
        assert_eq!(p.responses["200"], 2940);
        assert_eq!((p.sockets_opened, p.app_connections["opened"]), (24, 24));
        assert_eq!(p.duration_s, 6.0);
        assert_eq!(p.throughput_rps, 500.0);
        assert_eq!(
            (
                p.timeline.len(),
                p.timeline[0].errors,
                p.timeline[1].requests
            ),
            (2, 60, 1500)
        );
        assert_eq!(p.sidecars.len(), 1);
        assert_eq!(p.sidecars[0].flags["UC"], 60);
        let egress = p.egress.unwrap();
        assert_eq!(
            (egress.allow_added, egress.ipset),
            (6, vec!["a".to_string()])
        );
        // Median of the runs' percentiles, largest max, mean weighted by requests.
        assert_eq!((p.latency_ms.p99, p.latency_ms.max), (30.0, 100.0));
        assert!((p.latency_ms.mean - 3.0).abs() < 1e-12);
        assert!(!p.passed);
        assert_eq!(p.failures, ["run 2: too many errors"]);
        assert_eq!(p.dir, "baseline");
        let rounds: Vec<(u32, &str)> = p.runs.iter().map(|r| (r.round, r.dir.as_str())).collect();
        assert_eq!(
            rounds,
            [
                (1, "baseline/run-1"),
                (2, "baseline/run-2"),
                (3, "baseline/run-3")
            ]
        );
        let s = p.error_rate_stats.unwrap();
        assert_eq!((s.n, s.method), (3, CiMethod::StudentT));
        assert!((s.mean - 0.02).abs() < 1e-15);
        assert!((s.sd.unwrap() - 0.01).abs() < 1e-15);
    }
}
