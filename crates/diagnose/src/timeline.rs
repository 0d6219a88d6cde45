//! When errors happened: timestamps, per-interval counts, bursts and their period.

use std::collections::BTreeMap;

use serde::Serialize;

/// Above this many distinct intervals, a timeline coarsens (seconds → minutes → hours).
const MAX_INTERVALS: usize = 50_000;
/// Spans up to this long are shown per second, longer ones per minute.
const PER_SECOND_SPAN: i64 = 15 * 60;
/// At most this many intervals are listed in the JSON output.
const MAX_LISTED: usize = 1_440;

/// Parses Envoy's `%START_TIME%` (`2022-04-18T09:29:59.633Z`, or with a `+hh:mm`
/// offset) to milliseconds since the Unix epoch.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    with_fraction(seconds(s)?, &s[19..])
}

/// Parses start times as [`parse_timestamp`] does, remembering the last second's: lines of
/// a log share their second by the dozen, and only the rest of theirs is read.
#[derive(Debug, Clone, Default)]
pub(crate) struct Timestamps {
    second: Option<([u8; 19], i64)>,
}

impl Timestamps {
    /// [`parse_timestamp`] of `s`.
    pub(crate) fn parse(&mut self, s: &str) -> Option<i64> {
        let head = s.as_bytes().get(..19)?;
        let secs = match &self.second {
            Some((last, secs)) if last[..] == *head => *secs,
            _ => {
                let secs = seconds(s)?;
                self.second = Some((head.try_into().expect("19 bytes"), secs));
                secs
            }
        };
        // `seconds` read 19 ASCII bytes: byte 19 starts a character.
        with_fraction(secs, &s[19..])
    }
}

/// The seconds since the epoch of `s`'s `YYYY-MM-DDTHH:MM:SS` (its first 19 bytes, all
/// ASCII when it reads them), before any offset that follows.
fn seconds(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        s.get(from..to)?.bytes().try_fold(0i64, |acc, d| {
            d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
        })
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day)?;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Milliseconds since the epoch of a time `secs` into its day (see [`seconds`]) followed by
/// `rest`: an optional fraction, then `Z`, an `+hh:mm` offset or nothing.
#[inline(always)]
fn with_fraction(secs: i64, rest: &str) -> Option<i64> {
    let b = rest.as_bytes();
    // Envoy's own `%START_TIME%` ends `.DDDZ`: read at once, without the loop below.
    if let [b'.', d1, d2, d3, b'Z'] = *b {
        if d1.is_ascii_digit() && d2.is_ascii_digit() && d3.is_ascii_digit() {
            let digit = |d: u8| i64::from(d - b'0');
            return Some(secs * 1000 + digit(d1) * 100 + digit(d2) * 10 + digit(d3));
        }
    }
    let mut millis = 0;
    let mut at = 0;
    if b.first() == Some(&b'.') {
        // Tenths, hundredths, thousandths; finer digits are read past (`scale` is 0).
        let mut scale = 100;
        at = 1;
        while let Some(&d) = b.get(at).filter(|d| d.is_ascii_digit()) {
            millis += i64::from(d - b'0') * scale;
            scale /= 10;
            at += 1;
        }
        if at == 1 {
            return None;
        }
    }
    // `at` follows ASCII bytes.
    let rest = &rest[at..];
    let offset_secs = match rest {
        "" | "Z" => 0,
        _ if rest.len() == 6
            && matches!(rest.as_bytes()[0], b'+' | b'-')
            && rest.as_bytes()[3] == b':' =>
        {
            let secs = num_str(&rest[1..3])? * 3600 + num_str(&rest[4..6])? * 60;
            if rest.starts_with('-') {
                -secs
            } else {
                secs
            }
        }
        _ => return None,
    };
    Some((secs - offset_secs) * 1000 + millis)
}

fn num_str(s: &str) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    s.bytes().try_fold(0i64, |acc, d| {
        d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date; `None` for a day the month lacks.
/// (Howard Hinnant's `days_from_civil`: arithmetic only, as it runs for most lines.)
fn days_from_civil(y: i64, m: i64, d: i64) -> Option<i64> {
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let last = *month_days.get(usize::try_from(m - 1).ok()?)?;
    if !(1..=last).contains(&d) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    Some(era * 146_097 + day_of_era - 719_468)
}

/// Formats epoch seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_epoch(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("@{secs}"))
}

/// Error counts per interval, coarsening itself to stay within [`MAX_INTERVALS`].
#[derive(Debug, Clone)]
pub struct Timeline {
    bucket_secs: i64,
    counts: BTreeMap<i64, u64>,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline {
            bucket_secs: 1,
            counts: BTreeMap::new(),
        }
    }
}

/// One interval of the timeline.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Interval {
    /// Start of the interval (UTC).
    pub start: String,
    /// Errors in the interval.
    pub count: u64,
}

/// The time structure of a group's errors.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BurstSummary {
    /// `second`, `minute` or `hour`: the interval the counts are kept in.
    pub resolution: &'static str,
    /// Seconds from the first to the last error.
    pub span_secs: i64,
    /// Intervals holding at least one error.
    pub active_intervals: usize,
    /// The most errors in one interval.
    pub peak: u64,
    /// Runs of active intervals separated by quiet gaps (see [`Timeline::summary`]).
    pub bursts: usize,
    /// The longest burst, in seconds.
    pub longest_burst_secs: i64,
    /// Median time from one burst's start to the next one's, when there are ≥ 2 bursts.
    pub period_secs: Option<i64>,
    /// Median quiet time between bursts.
    pub median_quiet_secs: Option<i64>,
    /// The intervals with errors (at most 1440 listed).
    pub intervals: Vec<Interval>,
}

impl Timeline {
    /// Counts one error at `millis` since the epoch.
    pub fn add(&mut self, millis: i64) {
        let bucket = millis.div_euclid(1000).div_euclid(self.bucket_secs) * self.bucket_secs;
        *self.counts.entry(bucket).or_default() += 1;
        if self.counts.len() > MAX_INTERVALS {
            let next = if self.bucket_secs == 1 { 60 } else { 3600 };
            self.coarsen(next);
        }
    }

    /// Adds `other`'s counts, kept in the coarser of the two intervals (coarsened further
    /// when they hold too many).
    pub(crate) fn merge(&mut self, mut other: Timeline) {
        let step = self.bucket_secs.max(other.bucket_secs);
        if self.bucket_secs < step {
            self.coarsen(step);
        }
        if other.bucket_secs < step {
            other.coarsen(step);
        }
        for (start, n) in other.counts {
            *self.counts.entry(start).or_default() += n;
        }
        while self.counts.len() > MAX_INTERVALS && self.bucket_secs < 3600 {
            let next = if self.bucket_secs == 1 { 60 } else { 3600 };
            self.coarsen(next);
        }
    }

    fn coarsen(&mut self, bucket_secs: i64) {
        let mut counts = BTreeMap::new();
        for (&start, &n) in &self.counts {
            *counts
                .entry(start.div_euclid(bucket_secs) * bucket_secs)
                .or_default() += n;
        }
        self.bucket_secs = bucket_secs;
        self.counts = counts;
    }

    /// Summarises the timeline. Spans up to 15 minutes are kept per second, longer ones
    /// per minute. A burst ends at a quiet gap of ≥ 10 empty seconds (per-second) or
    /// ≥ 3 empty minutes (per-minute and coarser).
    pub fn summary(mut self) -> Option<BurstSummary> {
        let (&first, _) = self.counts.first_key_value()?;
        let (&last, _) = self.counts.last_key_value()?;
        if self.bucket_secs == 1 && last - first > PER_SECOND_SPAN {
            self.coarsen(60);
        }
        let step = self.bucket_secs;
        let quiet = if step == 1 { 10 } else { 3 * step };
        let mut bursts: Vec<(i64, i64)> = Vec::new();
        for &start in self.counts.keys() {
            match bursts.last_mut() {
                Some((_, end)) if start - *end <= quiet => *end = start + step,
                _ => bursts.push((start, start + step)),
            }
        }
        let starts: Vec<i64> = bursts.windows(2).map(|w| w[1].0 - w[0].0).collect();
        let gaps: Vec<i64> = bursts.windows(2).map(|w| w[1].0 - w[0].1).collect();
        Some(BurstSummary {
            resolution: match step {
                1 => "second",
                60 => "minute",
                _ => "hour",
            },
            span_secs: last + step - first,
            active_intervals: self.counts.len(),
            peak: self.counts.values().copied().max().unwrap_or(0),
            bursts: bursts.len(),
            longest_burst_secs: bursts.iter().map(|(s, e)| e - s).max().unwrap_or(0),
            period_secs: median(starts),
            median_quiet_secs: median(gaps),
            intervals: self
                .counts
                .iter()
                .take(MAX_LISTED)
                .map(|(&start, &count)| Interval {
                    start: format_epoch(start),
                    count,
                })
                .collect(),
        })
    }
}

fn median(mut values: Vec<i64>) -> Option<i64> {
    values.sort_unstable();
    values.get(values.len() / 2).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In any order, with seconds repeated or not, the remembered second changes nothing.
    #[test]
    fn remembered_seconds_parse_as_the_whole() {
        let times = [
            "2022-04-18T09:29:59.633Z",
            "2022-04-18T09:29:59.7Z",
            "2022-04-18T09:29:59Z",
            "2022-04-18T09:29:59.633+08:00",
            "2022-04-18T09:29:59.633-01:30",
            "2022-04-18T09:29:59.633x",
            "2022-04-18T09:29:59.",
            "2022-04-18T09:29:59é",
            "2022-04-18 09:29:59.001",
            "2022-04-18T09:30:00.000Z",
            "2022-02-30T09:30:00.000Z",
            "2022-04-18T09:29:5",
            "2022-04-18T09:29:5é.000Z",
            "",
            "-",
        ];
        let mut rng = fastrand::Rng::with_seed(7);
        let mut cache = Timestamps::default();
        for _ in 0..2_000 {
            let t = times[rng.usize(..times.len())];
            assert_eq!(cache.parse(t), parse_timestamp(t), "{t}");
        }
    }

    /// The `.DDDZ` shortcut reads as the general path does (here through a `+00:00` offset).
    #[test]
    fn millisecond_z_times_read_as_offset_ones() {
        for ms in 0..1000 {
            let z = format!("2022-04-18T09:29:59.{ms:03}Z");
            let offset = format!("2022-04-18T09:29:59.{ms:03}+00:00");
            assert_eq!(parse_timestamp(&z), parse_timestamp(&offset), "{z}");
            assert_eq!(parse_timestamp(&z), Some(1_650_274_199_000 + ms));
        }
        assert_eq!(parse_timestamp("2022-04-18T09:29:59.63aZ"), None);
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_timestamp("2022-04-18T09:29:59.633Z"),
            Some(1_650_274_199_633)
        );
        assert_eq!(
            parse_timestamp("2022-04-18T17:29:59.633+08:00"),
            Some(1_650_274_199_633)
        );
        assert_eq!(
            parse_timestamp("2022-04-18T09:29:59.6Z"),
            Some(1_650_274_199_600)
        );
        assert_eq!(
            parse_timestamp("2022-04-18T09:29:59.633999Z"),
            Some(1_650_274_199_633),
            "digits past the millisecond are dropped"
        );
        assert_eq!(parse_timestamp("2022-04-18T09:29:59.Z"), None);
        assert_eq!(parse_timestamp("2022-13-18T09:29:59Z"), None);
        assert_eq!(parse_timestamp("2022-02-30T09:29:59Z"), None);
        assert_eq!(
            parse_timestamp("2000-02-29T00:00:00Z"),
            Some(951_782_400_000)
        );
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp("1900-02-29T00:00:00Z"), None);
        assert_eq!(
            parse_timestamp("1969-12-31T23:59:59Z"),
            Some(-1000),
            "before the epoch"
        );
        assert_eq!(
            parse_timestamp("2026-11-30T03:57:49.430Z"),
            Some(1_796_011_069_430)
        );
        assert_eq!(format_epoch(1_650_274_199), "2022-04-18T09:29:59Z");
    }

    #[test]
    fn bursts_and_period() {
        let mut t = Timeline::default();
        // Three one-minute bursts an hour apart, ten errors each.
        for burst in 0..3 {
            for i in 0..10 {
                t.add((burst * 3600 + i * 6) * 1000);
            }
        }
        let s = t.summary().unwrap();
        assert_eq!(s.resolution, "minute");
        assert_eq!(s.bursts, 3);
        assert_eq!(s.period_secs, Some(3600));
        assert_eq!(s.peak, 10);
    }
}
