//! Which runs go in which section of the report, and the names of their files.

use crate::Run;

/// One scenario's runs, in the order they were given.
#[derive(Debug)]
pub struct Section<'a> {
    /// The scenario id.
    pub scenario: &'a str,
    pub runs: Vec<RunEntry<'a>>,
}

/// One run inside its section.
#[derive(Debug)]
pub struct RunEntry<'a> {
    pub run: &'a Run,
    /// Prefix of this run's files: the scenario, plus the profile (and a number)
    /// when the section holds several runs.
    pub stem: String,
    /// How the run is named beside the others of its section: its profile (and its
    /// network mode when not `local`), plus ` #2`, ` #3`… when that repeats.
    pub label: String,
}

impl Section<'_> {
    /// The distinct Istio profiles of this section's runs, in order.
    pub fn profiles(&self) -> Vec<&str> {
        let mut seen: Vec<&str> = Vec::new();
        for e in &self.runs {
            let p = e.run.summary.istio_profile.as_str();
            if !seen.contains(&p) {
                seen.push(p);
            }
        }
        seen
    }

    /// The file name of the chart comparing Istio profiles.
    pub fn profiles_chart(&self) -> String {
        format!("{}-profiles.svg", file_name(self.scenario))
    }
}

impl RunEntry<'_> {
    /// The file name of this run's chart of `kind` (`timeline`, `error-rate`, `latency`).
    pub fn chart(&self, kind: &str) -> String {
        format!("{}-{kind}.svg", self.stem)
    }

    /// The file name of `variant`'s timeline CSV.
    pub fn timeline_csv(&self, variant: &str) -> String {
        format!("{}-{}-timeline.csv", self.stem, file_name(variant))
    }

    /// The file name of `variant`'s copied latency histogram, or of its run in `round`.
    pub fn histogram(&self, variant: &str, round: Option<u32>) -> String {
        match round {
            Some(k) => format!("{}-{}-run-{k}.hgrm", self.stem, file_name(variant)),
            None => format!("{}-{}.hgrm", self.stem, file_name(variant)),
        }
    }

    /// The file name of this run's error-rate statistics CSV (the data of its error-rate chart).
    pub fn error_rate_csv(&self) -> String {
        format!("{}-error-rate.csv", self.stem)
    }
}

/// Group `runs` by scenario, sections in order of first appearance.
pub fn sections(runs: &[Run]) -> Vec<Section<'_>> {
    let mut out: Vec<Section<'_>> = Vec::new();
    for run in runs {
        let scenario = run.summary.scenario.as_str();
        let entry = RunEntry {
            run,
            stem: String::new(),
            label: String::new(),
        };
        match out.iter_mut().find(|s| s.scenario == scenario) {
            Some(s) => s.runs.push(entry),
            None => out.push(Section {
                scenario,
                runs: vec![entry],
            }),
        }
    }
    for section in &mut out {
        // Istio versions in version order (1.4 before 1.13), not string order; a stable
        // sort keeps repeated runs of one profile in the order given.
        section
            .runs
            .sort_by_key(|e| profile_version(&e.run.summary.istio_profile));
        name_runs(section);
    }
    out
}

/// `istio-1.13` → (1, 13), for ordering; other names sort first, in the order given.
fn profile_version(profile: &str) -> (u32, u32) {
    profile
        .strip_prefix("istio-")
        .and_then(|v| v.split_once('.'))
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .unwrap_or((0, 0))
}

#[cfg(test)]
mod order_tests {
    #[test]
    fn profiles_order_by_version() {
        let mut p = vec!["istio-1.24", "istio-1.4", "istio-1.13"];
        p.sort_by_key(|n| super::profile_version(n));
        assert_eq!(p, ["istio-1.4", "istio-1.13", "istio-1.24"]);
    }
}

/// Give each run of `section` its label and file stem.
fn name_runs(section: &mut Section<'_>) {
    let single = section.runs.len() == 1;
    let mut seen: Vec<String> = Vec::new();
    for entry in &mut section.runs {
        let s = &entry.run.summary;
        let profile = match s.mode.as_str() {
            "local" => s.istio_profile.clone(),
            mode => format!("{} {mode}", s.istio_profile),
        };
        let n = seen.iter().filter(|p| **p == profile).count() + 1;
        entry.label = match n {
            1 => profile.clone(),
            n => format!("{profile} #{n}"),
        };
        let key = profile.replace(' ', "-");
        entry.stem = match (single, n) {
            (true, _) => file_name(section.scenario),
            (false, 1) => file_name(&format!("{}-{key}", section.scenario)),
            (false, n) => file_name(&format!("{}-{key}-{n}", section.scenario)),
        };
        seen.push(profile);
    }
}

/// `name` made safe as a file name: characters other than letters, digits,
/// `.`, `-` and `_` become `_`, and it never starts with a dot.
fn file_name(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.is_empty() || safe.starts_with('.') {
        format!("_{safe}")
    } else {
        safe
    }
}

#[cfg(test)]
mod tests {
    use super::file_name;

    #[test]
    fn file_names_stay_in_the_report_directory() {
        assert_eq!(file_name("inbound-keepalive-uc"), "inbound-keepalive-uc");
        assert_eq!(file_name("../etc/passwd"), "_.._etc_passwd");
        assert_eq!(file_name("a b/c"), "a_b_c");
        assert_eq!(file_name(""), "_");
    }
}
