//! Reads istio-proxy access logs, groups the 5xx (and the lines whose response flags say
//! something went wrong: `0 DC`, `404 NR`, `200 UT`…) and names the scenario and the fix.
//!
//! [`Diagnoser`] takes lines (or whole readers) in any format
//! [`mesh5xx_accesslog::parse_line`] knows, and [`Diagnoser::finish`] returns a
//! [`Diagnosis`]: the failures ([`is_failure`]) grouped by code × flags × direction ×
//! cluster, each mapped to the scenario whose [`Signature`] fits it best (the [`Rule`]s come
//! from the scenario catalog), with evidence, the scenario's fixes and the reproducing
//! command; a group no scenario fits may be a [`KnownCause`] that is no fault of the mesh.
//! Lines are read in chunks, on as many threads as asked ([`Diagnoser::threads`]): plain
//! files are mapped ([`Mapped`]) and the threads take pieces of them where they lie,
//! streams (stdin, gzip) are read in chunks the threads are handed. The diagnosis is the
//! same for any number of threads and either way of reading.

mod classify;
mod grouping;
mod hosts;
mod input;
mod known;
mod mapped;
mod parallel;
mod part;
mod render;
pub mod signature;
mod sources;
mod tally;
mod timeline;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;

use mesh5xx_accesslog::{Format, Parser};
use serde::Serialize;

pub use classify::{classify, flag_meaning, Verdict};
pub use grouping::{direction, is_failure, Direction, GroupKey, GroupStats, Groups};
pub use input::{maybe_gunzip, open, CHUNK, MAX_LINE};
pub use known::{known_causes, KnownCause};
pub use mapped::Mapped;
pub use mapped::{piece_size, MAX_PIECE, PIECE};
pub use render::render_table;
pub use signature::{Fix, Rule, RuleFix, Signature, Unlogged};
pub use timeline::{parse_timestamp, BurstSummary, Interval, Timeline};

use crate::input::Chunks;
use crate::parallel::Work;
use crate::part::Part;

/// Unparsed lines shown by default.
const DEFAULT_SAMPLES: usize = 5;

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
    /// Threads that read the lines (default: the cores available). The output is the same
    /// for every number of threads.
    #[arg(long, value_name = "N")]
    pub threads: Option<NonZeroUsize>,
}

/// Entry point of `mesh5xx diagnose`, naming the scenarios of `rules` (and, as causes no
/// log shows, those of `unlogged`). Fails (exit 1) only when nothing could be read.
pub fn main(
    args: DiagnoseArgs,
    rules: Vec<Rule>,
    unlogged: Vec<Unlogged>,
) -> anyhow::Result<ExitCode> {
    let threads = args.threads.unwrap_or_else(default_threads);
    let mut diagnoser = Diagnoser::new(args.samples, rules).threads(threads);
    for path in &args.files {
        let name = path.display().to_string();
        match Mapped::open(path) {
            Ok(Some(mapped)) => diagnoser.read_bytes(&name, &mapped),
            Ok(None) => match open(path) {
                Ok(reader) => diagnoser.read(&name, reader),
                Err(e) => diagnoser.input_failed(&name, e.to_string()),
            },
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

/// The cores available to the process (1 when that cannot be told).
pub fn default_threads() -> NonZeroUsize {
    std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
}

/// Diagnoses everything `reader` holds (plain text; see [`maybe_gunzip`] for gzip) against
/// the scenarios of `rules`.
pub fn diagnose<R: Read>(reader: R, rules: Vec<Rule>) -> Diagnosis {
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

/// One group of failed entries (5xx, or any code with response flags) and what it most likely is.
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
    /// When no scenario fits: a cause that is no fault of the mesh (a client that went
    /// away), with its explanation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_cause: Option<KnownCause>,
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
    /// Groups of failed entries, largest first.
    pub groups: Vec<GroupReport>,
    /// Failed entries not grouped (beyond 10 000 groups).
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
    total: Part,
    inputs: Vec<InputReport>,
    max_samples: usize,
    rules: Vec<Rule>,
    threads: NonZeroUsize,
    chunk: usize,
    /// Set by [`Diagnoser::chunk_size`]; else [`mapped::piece_size`] picks one per file.
    piece: Option<usize>,
}

impl Diagnoser {
    /// A diagnoser naming the scenarios of `rules`, keeping up to `max_samples` unparsed
    /// lines, reading on one thread.
    pub fn new(max_samples: usize, rules: Vec<Rule>) -> Self {
        Diagnoser {
            total: Part::new(max_samples),
            inputs: Vec::new(),
            max_samples,
            rules,
            threads: NonZeroUsize::MIN,
            chunk: CHUNK,
            piece: None,
        }
    }

    /// Reads on `threads` threads (the diagnosis is the same for any number).
    pub fn threads(mut self, threads: NonZeroUsize) -> Self {
        self.threads = threads;
        self
    }

    /// Reads in chunks (and pieces) of about `bytes` (at least [`MAX_LINE`]) rather than
    /// [`CHUNK`] (and [`mapped::piece_size`]'s): the diagnosis is the same for any size.
    pub fn chunk_size(mut self, bytes: usize) -> Self {
        self.chunk = bytes;
        self.piece = Some(bytes);
        self
    }

    /// Reads `reader` to its end (or its first read error, which is recorded).
    pub fn read<R: Read>(&mut self, name: &str, reader: R) {
        let mut chunks = Chunks::with_size(reader, self.chunk);
        let work = ReadChunk {
            max_samples: self.max_samples,
            name,
            input: self.inputs.len(),
        };
        let mut lines = 0;
        let total = &mut self.total;
        let outcome = parallel::in_order(&mut chunks, self.threads, &work, |part: Part| {
            let base = lines;
            lines += part.lines;
            total.merge(part, base);
        });
        self.inputs.push(InputReport {
            name: name.to_owned(),
            lines,
            error: outcome.err().map(|e| {
                format!(
                    "stopped at line {} (byte {}): {}; kept {lines} lines",
                    lines + 1,
                    e.byte,
                    e.message
                )
            }),
        });
    }

    /// Reads the whole of `data` (a [`Mapped`] file) where it lies: threads take pieces of
    /// it by byte range, nothing is copied. The diagnosis is the one [`Diagnoser::read`]
    /// gives for the same bytes.
    pub fn read_bytes(&mut self, name: &str, data: &[u8]) {
        let work = ReadChunk {
            max_samples: self.max_samples,
            name,
            input: self.inputs.len(),
        };
        let piece = self
            .piece
            .unwrap_or_else(|| piece_size(data.len(), self.threads.get()));
        let pieces = mapped::pieces(data, piece.max(MAX_LINE + 1));
        let mut lines = 0;
        let total = &mut self.total;
        parallel::pieces_in_order(data, &pieces, self.threads, &work, |part: Part| {
            let base = lines;
            lines += part.lines;
            total.merge(part, base);
        });
        self.inputs.push(InputReport {
            name: name.to_owned(),
            lines,
            error: None,
        });
    }

    /// Records an input that could not be opened.
    pub fn input_failed(&mut self, name: &str, error: String) {
        self.inputs.push(InputReport {
            name: name.to_owned(),
            lines: 0,
            error: Some(error),
        });
    }

    /// Groups, classifies and summarises everything read.
    pub fn finish(self) -> Diagnosis {
        let total = self.total;
        let mut groups: Vec<GroupReport> = total
            .groups
            .groups
            .iter()
            .map(|(key, stats)| {
                let bursts = stats.timeline.clone().summary();
                let verdict = classify(key, stats, bursts.as_ref(), &total.groups, &self.rules);
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
        let mut unread: Vec<Unread> = total.unread.into_iter().map(|(_, u)| u).collect();
        unread.sort_by(|a, b| b.lines.cmp(&a.lines).then_with(|| a.reason.cmp(&b.reason)));
        Diagnosis {
            lines: total.lines,
            parsed: total.parsed,
            unparsed: total.lines - total.parsed,
            partial: total.partial,
            formats: Format::ALL
                .iter()
                .map(|&f| (f.as_str(), total.formats[f.index()]))
                .filter(|&(_, n)| n > 0)
                .collect(),
            inputs: self.inputs,
            groups,
            ungrouped: total.groups.dropped,
            unparsed_samples: total.samples,
            unread,
            not_in_log: Vec::new(),
        }
    }
}

/// A thread's work on one chunk of an input: its [`Part`].
struct ReadChunk<'a> {
    max_samples: usize,
    name: &'a str,
    input: usize,
}

impl Work for ReadChunk<'_> {
    type State = Parser;
    type Output = Part;

    fn run(&self, parser: &mut Parser, chunk: &[u8]) -> Part {
        Part::of_chunk(chunk, parser, self.max_samples, self.name, self.input)
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
        known_cause: verdict.known_cause,
        evidence: verdict.evidence,
        notes: verdict.notes,
        mitigations: verdict.mitigations,
        command: verdict.command,
        bursts,
    }
}
