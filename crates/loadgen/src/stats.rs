//! Per-worker counters and latency histogram, merged once at the end of a run.
//!
//! Each worker owns its [`WorkerStats`]: nothing here is shared while requests run.

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::outcome::{FlagText, Outcome, TransportErrorKind};

/// Highest latency recorded, in µs (one hour); longer ones are clamped.
const MAX_LATENCY_US: u64 = 3_600_000_000;
/// Significant digits of the latency histogram.
const SIGNIFICANT_DIGITS: u8 = 3;
/// Status codes counted (httparse reads three digits).
const STATUS_CODES: usize = 1000;

/// Counts by response-flags value, in order of first appearance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FlagCounts(Vec<(FlagText, u64)>);

impl FlagCounts {
    pub(crate) fn add(&mut self, flag: FlagText, n: u64) {
        match self.0.iter_mut().find(|(f, _)| *f == flag) {
            Some((_, count)) => *count += n,
            None => self.0.push((flag, n)),
        }
    }

    pub(crate) fn merge(&mut self, other: &FlagCounts) {
        for &(flag, n) in &other.0 {
            self.add(flag, n);
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (FlagText, u64)> + '_ {
        self.0.iter().copied()
    }
}

/// Counts for the requests started in one second of the run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Second {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    /// Error flags only (not `-`).
    pub(crate) flags: FlagCounts,
}

/// What one worker (or, after merging, the whole run) observed.
#[derive(Debug, Clone)]
pub(crate) struct WorkerStats {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    /// Responses by status code (index = status).
    pub(crate) statuses: Box<[u64]>,
    /// Responses by response-flags value.
    pub(crate) flags: FlagCounts,
    /// Transport errors, indexed by kind (`kind as usize`, the order of [`TransportErrorKind::ALL`]).
    pub(crate) transport: [u64; TransportErrorKind::ALL.len()],
    /// Latency of every finished attempt, µs.
    pub(crate) latency: Histogram<u64>,
    /// Indexed by the second (since start) in which the request was due.
    pub(crate) timeline: Vec<Second>,
    pub(crate) sockets_opened: u64,
    /// Server-first exchanges completed.
    pub(crate) answered: u64,
}

impl WorkerStats {
    pub(crate) fn new() -> Self {
        WorkerStats {
            requests: 0,
            errors: 0,
            statuses: vec![0; STATUS_CODES].into_boxed_slice(),
            flags: FlagCounts::default(),
            transport: [0; TransportErrorKind::ALL.len()],
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_US, SIGNIFICANT_DIGITS)
                .expect("valid histogram bounds"),
            timeline: Vec::new(),
            sockets_opened: 0,
            answered: 0,
        }
    }

    /// Record one finished attempt, due `due` after the start, that took `latency`.
    pub(crate) fn record(&mut self, due: Duration, latency: Duration, outcome: Outcome) {
        let error = outcome.is_error();
        self.requests += 1;
        self.errors += u64::from(error);
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency
            .saturating_record(micros.clamp(1, MAX_LATENCY_US));
        let index = due.as_secs() as usize;
        if self.timeline.len() <= index {
            self.timeline.resize_with(index + 1, Second::default);
        }
        let second = &mut self.timeline[index];
        second.requests += 1;
        second.errors += u64::from(error);
        match outcome {
            Outcome::Response { status, flag } => {
                self.statuses[usize::from(status).min(STATUS_CODES - 1)] += 1;
                self.flags.add(flag, 1);
                if flag.is_error_flag() {
                    second.flags.add(flag, 1);
                }
            }
            Outcome::Transport(kind) => self.transport[kind as usize] += 1,
            Outcome::Answered => self.answered += 1,
        }
    }

    /// Fold `other` into `self`.
    pub(crate) fn merge(&mut self, other: WorkerStats) {
        self.requests += other.requests;
        self.errors += other.errors;
        for (mine, theirs) in self.statuses.iter_mut().zip(other.statuses.iter()) {
            *mine += theirs;
        }
        self.flags.merge(&other.flags);
        for (mine, theirs) in self.transport.iter_mut().zip(other.transport) {
            *mine += theirs;
        }
        self.latency
            .add(&other.latency)
            .expect("histograms share their bounds");
        if self.timeline.len() < other.timeline.len() {
            self.timeline
                .resize_with(other.timeline.len(), Second::default);
        }
        for (mine, theirs) in self.timeline.iter_mut().zip(other.timeline) {
            mine.requests += theirs.requests;
            mine.errors += theirs.errors;
            mine.flags.merge(&theirs.flags);
        }
        self.sockets_opened += other.sockets_opened;
        self.answered += other.answered;
    }

    /// Transport errors by kind, non-zero only.
    pub(crate) fn transport_errors(&self) -> impl Iterator<Item = (TransportErrorKind, u64)> + '_ {
        TransportErrorKind::ALL
            .into_iter()
            .zip(self.transport)
            .filter(|&(_, n)| n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_merges() {
        let ms = Duration::from_millis;
        let uc = FlagText::new(b"UC");
        let mut a = WorkerStats::new();
        a.record(
            ms(10),
            ms(2),
            Outcome::Response {
                status: 200,
                flag: FlagText::NONE,
            },
        );
        a.record(
            ms(1500),
            ms(4),
            Outcome::Response {
                status: 503,
                flag: uc,
            },
        );
        let mut b = WorkerStats::new();
        b.record(
            ms(2500),
            ms(6),
            Outcome::Transport(TransportErrorKind::Reset),
        );
        a.merge(b);
        assert_eq!((a.requests, a.errors), (3, 2));
        assert_eq!((a.statuses[200], a.statuses[503]), (1, 1));
        assert_eq!(
            a.transport_errors().collect::<Vec<_>>(),
            [(TransportErrorKind::Reset, 1)]
        );
        assert_eq!(a.timeline.len(), 3);
        assert_eq!(a.timeline[1].flags.iter().collect::<Vec<_>>(), [(uc, 1)]);
        assert_eq!(a.timeline[2].errors, 1);
        assert_eq!(a.latency.len(), 3);
        assert_eq!(a.latency.max(), a.latency.highest_equivalent(6000));
    }
}
