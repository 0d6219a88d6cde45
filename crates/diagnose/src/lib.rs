//! Reads istio-proxy access logs, groups the 5xx and names the scenario and the fix.
//!
//! [`Diagnoser`] takes lines (or whole readers) in any format
//! [`mesh5xx_accesslog::parse_line`] knows, and [`Diagnoser::finish`] returns a
//! [`Diagnosis`]: the 5xx grouped by code × flags × direction × cluster, each mapped to
//! the scenario whose [`Signature`] fits it best (the [`Rule`]s come from the scenario
//! catalog), with evidence, the scenario's fixes and the reproducing command.

mod classify;
mod grouping;
mod input;
mod render;
pub mod signature;
mod timeline;

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use mesh5xx_accesslog::{Format, Parser, Reason};
use serde::Serialize;

pub use classify::{classify, flag_meaning, Verdict};
pub use grouping::{direction, Direction, GroupKey, GroupStats, Groups};
pub use input::{maybe_gunzip, open, Lines, ReadError, MAX_LINE};
pub use render::render_table;
pub use signature::{Fix, Rule, RuleFix, Signature, Unlogged};
pub use timeline::{parse_timestamp, BurstSummary, Interval, Timeline};

/// Unparsed lines shown by default.
const DEFAULT_SAMPLES: usize = 5;
/// Unparsed sample lines are cut to this many characters.
const SAMPLE_CHARS: usize = 200;
/// The example line of each reason lines were not read for is cut to this many characters.
const EXCERPT_CHARS: usize = 120;

/// Command-line arguments of `mesh5xx diagnose`.
#[derive(Debug, Clone, clap::Args)]
pub struct DiagnoseArgs {
    /// Access log files, plain or gzip-compressed; `-` reads stdin.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// How many unparsed lines to show.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_SAMPLES)]
    pub samples: usize,
}

/// Entry point of `mesh5xx diagnose`, naming the scenarios of `rules` (and, as causes no
/// log shows, those of `unlogged`). Fails (exit 1) only when nothing could be read.
pub fn main(
    args: DiagnoseArgs,
    rules: Vec<Rule>,
    unlogged: Vec<Unlogged>,
) -> anyhow::Result<ExitCode> {
    let mut diagnoser = Diagnoser::new(args.samples, rules);
    for path in &args.files {
        let name = path.display().to_string();
        match open(path) {
            Ok(reader) => diagnoser.read(&name, reader),
            Err(e) => diagnoser.input_failed(&name, e.to_string()),
        }
    }
    let mut diagnosis = diagnoser.finish();
    diagnosis.not_in_log = unlogged;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &diagnosis)?;
        writeln!(out)?;
    } else {
        out.write_all(render_table(&diagnosis).as_bytes())?;
    }
    out.flush()?;
    Ok(if diagnosis.nothing_read() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Diagnoses everything `reader` holds (plain text; see [`maybe_gunzip`] for gzip) against
/// the scenarios of `rules`.
pub fn diagnose<R: BufRead>(reader: R, rules: Vec<Rule>) -> Diagnosis {
    let mut d = Diagnoser::new(DEFAULT_SAMPLES, rules);
    d.read("-", reader);
    d.finish()
}

/// One input and how reading it went.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct InputReport {
    /// File name, or `-`.
    pub name: String,
    /// Lines read from it.
    pub lines: u64,
    /// Why reading stopped early (the line and byte where it broke), if it did.
    pub error: Option<String>,
}

/// A line that did not parse.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Sample {
    /// The input it came from.
    pub input: String,
    /// Its 1-based line number.
    pub line: u64,
    /// The line, cut to 200 characters (invalid UTF-8 replaced).
    pub text: String,
    /// Why it did not parse.
    pub reason: String,
}

/// The lines not read for one reason.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Unread {
    /// Why, e.g. `not an access log line`, `cut before the response_flags`.
    pub reason: String,
    /// How many lines.
    pub lines: u64,
    /// The first of them (its text cut to 120 characters).
    pub first: Sample,
}

/// Min, median and max `%DURATION%` of a group, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Durations {
    /// Shortest.
    pub min: u64,
    /// Median (3 significant digits).
    pub median: u64,
    /// Longest.
    pub max: u64,
}

/// One group of 5xx entries and what it most likely is.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GroupReport {
    /// HTTP status.
    pub code: u16,
    /// Response flags as printed.
    pub flags: String,
    /// Inbound, outbound, passthrough or unknown.
    pub direction: Direction,
    /// Upstream cluster.
    pub cluster: Option<String>,
    /// Entries.
    pub count: u64,
    /// Earliest start time.
    pub first: Option<String>,
    /// Latest start time.
    pub last: Option<String>,
    /// Durations.
    pub duration_ms: Option<Durations>,
    /// Most common `%BYTES_SENT%` values (local reply sizes) with counts.
    pub bytes_sent: Vec<(String, u64)>,
    /// Most common upstream hosts with counts.
    pub upstream_hosts: Vec<(String, u64)>,
    /// Most common response code details with counts.
    pub details: Vec<(String, u64)>,
    /// The scenario it maps to, if any.
    pub scenario: Option<String>,
    /// Why.
    pub evidence: String,
    /// Remarks on flag combinations.
    pub notes: Vec<String>,
    /// What to change, best first, each with the command that measures it.
    pub mitigations: Vec<RuleFix>,
    /// How to reproduce it in the lab.
    pub command: Option<String>,
    /// Time structure.
    pub bursts: Option<BurstSummary>,
}

/// The result of reading some access logs.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Diagnosis {
    /// Lines read.
    pub lines: u64,
    /// Lines parsed as access log entries.
    pub parsed: u64,
    /// Lines that were not access log entries.
    pub unparsed: u64,
    /// Entries read from lines that lacked some of their format's fields (no timestamp,
    /// cut at either end): their code and flags count, their missing fields do not.
    pub partial: u64,
    /// Entries per format.
    pub formats: BTreeMap<&'static str, u64>,
    /// The inputs.
    pub inputs: Vec<InputReport>,
    /// 5xx groups, largest first.
    pub groups: Vec<GroupReport>,
    /// 5xx entries not grouped (beyond 10 000 groups).
    pub ungrouped: u64,
    /// The first unparsed lines.
    pub unparsed_samples: Vec<Sample>,
    /// The unparsed lines by why they were not read, most first.
    pub unread: Vec<Unread>,
    /// The catalog's causes whose errors no access log shows.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_in_log: Vec<Unlogged>,
}

impl Diagnosis {
    /// True when no line could be read and some input failed.
    pub fn nothing_read(&self) -> bool {
        self.lines == 0 && self.inputs.iter().any(|i| i.error.is_some())
    }
}

/// Accumulates lines from any number of inputs.
#[derive(Debug)]
pub struct Diagnoser {
    lines: u64,
    parsed: u64,
    partial: u64,
    formats: [u64; Format::ALL.len()],
    parser: Parser,
    unread: Vec<(Reason, Unread)>,
    inputs: Vec<InputReport>,
    groups: Groups,
    samples: Vec<Sample>,
    max_samples: usize,
    rules: Vec<Rule>,
}

impl Diagnoser {
    /// A diagnoser naming the scenarios of `rules`, keeping up to `max_samples` unparsed lines.
    pub fn new(max_samples: usize, rules: Vec<Rule>) -> Self {
        Diagnoser {
            lines: 0,
            parsed: 0,
            partial: 0,
            formats: [0; Format::ALL.len()],
            parser: Parser::new(),
            unread: Vec::new(),
            inputs: Vec::new(),
            groups: Groups::default(),
            samples: Vec::new(),
            max_samples,
            rules,
        }
    }

    /// Reads `reader` to its end (or its first read error, which is recorded).
    pub fn read<R: BufRead>(&mut self, name: &str, reader: R) {
        let mut lines = Lines::new(reader);
        let mut report = InputReport {
            name: name.to_owned(),
            lines: 0,
            error: None,
        };
        loop {
            match lines.next_line() {
                Ok(Some((number, bytes))) => {
                    report.lines += 1;
                    self.line(name, number, bytes);
                }
                Ok(None) => break,
                Err(e) => {
                    report.error = Some(format!(
                        "stopped at line {} (byte {}): {}; kept {} lines",
                        e.line, e.byte, e.message, report.lines
                    ));
                    break;
                }
            }
        }
        self.inputs.push(report);
    }

    /// Records an input that could not be opened.
    pub fn input_failed(&mut self, name: &str, error: String) {
        self.inputs.push(InputReport {
            name: name.to_owned(),
            lines: 0,
            error: Some(error),
        });
    }

    /// Accounts for one line of input `name`.
    pub fn line(&mut self, name: &str, number: u64, bytes: &[u8]) {
        self.lines += 1;
        let text = String::from_utf8_lossy(bytes);
        match self.parser.parse(&text) {
            Ok(entry) => {
                self.parsed += 1;
                self.partial += u64::from(entry.partial);
                self.formats[entry.format.index()] += 1;
                self.groups.add(&entry, self.inputs.len());
            }
            Err(e) => {
                let sample = |chars| {
                    let trimmed = text.trim_end_matches(['\n', '\r']);
                    Sample {
                        input: name.to_owned(),
                        line: number,
                        text: trimmed.chars().take(chars).collect(),
                        reason: e.to_string(),
                    }
                };
                let reason = e.reason();
                match self.unread.iter_mut().find(|(r, _)| *r == reason) {
                    Some((_, unread)) => unread.lines += 1,
                    None => self.unread.push((
                        reason,
                        Unread {
                            reason: reason.to_string(),
                            lines: 1,
                            first: sample(EXCERPT_CHARS),
                        },
                    )),
                }
                if self.samples.len() < self.max_samples {
                    self.samples.push(sample(SAMPLE_CHARS));
                }
            }
        }
    }

    /// Groups, classifies and summarises everything read.
    pub fn finish(self) -> Diagnosis {
        let mut groups: Vec<GroupReport> = self
            .groups
            .groups
            .iter()
            .map(|(key, stats)| {
                let bursts = stats.timeline.clone().summary();
                let verdict = classify(key, stats, bursts.as_ref(), &self.groups, &self.rules);
                report(key, stats, verdict, bursts)
            })
            .collect();
        groups.sort_by(|a, b| {
            b.count.cmp(&a.count).then_with(|| {
                (a.code, &a.flags, a.direction, &a.cluster).cmp(&(
                    b.code,
                    &b.flags,
                    b.direction,
                    &b.cluster,
                ))
            })
        });
        let mut unread: Vec<Unread> = self.unread.into_iter().map(|(_, u)| u).collect();
        unread.sort_by(|a, b| b.lines.cmp(&a.lines).then_with(|| a.reason.cmp(&b.reason)));
        Diagnosis {
            lines: self.lines,
            parsed: self.parsed,
            unparsed: self.lines - self.parsed,
            partial: self.partial,
            formats: Format::ALL
                .iter()
                .map(|&f| (f.as_str(), self.formats[f.index()]))
                .filter(|&(_, n)| n > 0)
                .collect(),
            inputs: self.inputs,
            groups,
            ungrouped: self.groups.dropped,
            unparsed_samples: self.samples,
            unread,
            not_in_log: Vec::new(),
        }
    }
}

fn report(
    key: &GroupKey,
    stats: &GroupStats,
    verdict: Verdict,
    bursts: Option<BurstSummary>,
) -> GroupReport {
    GroupReport {
        code: key.code,
        flags: key.flags.clone(),
        direction: key.direction,
        cluster: key.cluster.clone(),
        count: stats.count,
        first: stats.first.as_ref().map(|(_, s)| s.clone()),
        last: stats.last.as_ref().map(|(_, s)| s.clone()),
        duration_ms: stats.min_max_ms.map(|(min, max)| Durations {
            min,
            median: stats.durations.value_at_quantile(0.5).clamp(min, max),
            max,
        }),
        bytes_sent: stats.bytes_sent.top(3),
        upstream_hosts: stats.upstream_hosts.top(3),
        details: stats.details.top(3),
        scenario: verdict.scenario,
        evidence: verdict.evidence,
        notes: verdict.notes,
        mitigations: verdict.mitigations,
        command: verdict.command,
        bursts,
    }
}
