//! What a stretch of lines holds: counts by format, the lines not read and why, the groups.
//! A chunk is read into a part of its own (on any thread); parts merge in input order into
//! what reading the whole log line by line gives.

use mesh5xx_accesslog::{Entry, Format, Parser, Reason};

use crate::grouping::Groups;
use crate::input::lines;
use crate::{Sample, Unread};

/// Unparsed sample lines are cut to this many characters.
const SAMPLE_CHARS: usize = 200;
/// The example line of each reason lines were not read for is cut to this many characters.
const EXCERPT_CHARS: usize = 120;

/// The accounts of some lines of one or more inputs.
#[derive(Debug, Default)]
pub(crate) struct Part {
    pub(crate) lines: u64,
    pub(crate) parsed: u64,
    pub(crate) partial: u64,
    pub(crate) formats: [u64; Format::ALL.len()],
    /// The lines not read, by reason, in order of the reasons' first line.
    pub(crate) unread: Vec<(Reason, Unread)>,
    /// The first unparsed lines.
    pub(crate) samples: Vec<Sample>,
    max_samples: usize,
    pub(crate) groups: Groups,
}

impl Part {
    /// An empty part keeping up to `max_samples` unparsed lines.
    pub(crate) fn new(max_samples: usize) -> Self {
        Part {
            max_samples,
            ..Part::default()
        }
    }

    /// The part of one chunk of input `name` (number `input`): its lines are numbered from
    /// 1, [`Part::merge`] moves them to their place in the input.
    pub(crate) fn of_chunk(
        chunk: &[u8],
        parser: &mut Parser,
        max_samples: usize,
        name: &str,
        input: usize,
    ) -> Part {
        let mut part = Part::new(max_samples);
        // Logs are ASCII as a rule, which is valid UTF-8 at any cut: one check of the
        // chunk spares a check of each line.
        let ascii = chunk.is_ascii();
        for range in lines(chunk) {
            let bytes = &chunk[range];
            if ascii {
                // SAFETY: every byte of the chunk is ASCII, so every stretch of it is UTF-8.
                let line = unsafe { std::str::from_utf8_unchecked(bytes) };
                part.line(parser, name, input, line);
                continue;
            }
            // Checked line by line, while the line is in the cache for the parse that
            // follows; a line cut inside a character is read with it replaced.
            match std::str::from_utf8(bytes) {
                Ok(line) => part.line(parser, name, input, line),
                Err(_) => {
                    let line = String::from_utf8_lossy(bytes);
                    part.line(parser, name, input, &line);
                }
            }
        }
        part
    }

    /// Accounts for the next line of input `name` (number `input`).
    fn line(&mut self, parser: &mut Parser, name: &str, input: usize, text: &str) {
        self.lines += 1;
        // Read into an entry of this frame: moving each `Entry` here would copy the whole of it.
        let mut entry = Entry::empty(Format::CustomText);
        match parser.parse_into(text, &mut entry) {
            Ok(()) => {
                let entry = &entry;
                self.parsed += 1;
                self.partial += u64::from(entry.partial);
                self.formats[entry.format.index()] += 1;
                self.groups.add(entry, input);
            }
            Err(e) => {
                let sample = |chars| {
                    let trimmed = text.trim_end_matches(['\n', '\r']);
                    Sample {
                        input: name.to_owned(),
                        line: self.lines,
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

    /// Adds `next`, the part of the lines that follow, whose line numbers count from
    /// `line_base` + 1 in their input.
    pub(crate) fn merge(&mut self, next: Part, line_base: u64) {
        self.lines += next.lines;
        self.parsed += next.parsed;
        self.partial += next.partial;
        for (n, m) in self.formats.iter_mut().zip(next.formats) {
            *n += m;
        }
        let placed = |mut s: Sample| {
            s.line += line_base;
            s
        };
        for (reason, unread) in next.unread {
            match self.unread.iter_mut().find(|(r, _)| *r == reason) {
                Some((_, kept)) => kept.lines += unread.lines,
                None => self.unread.push((
                    reason,
                    Unread {
                        first: placed(unread.first),
                        ..unread
                    },
                )),
            }
        }
        let room = self.max_samples.saturating_sub(self.samples.len());
        self.samples
            .extend(next.samples.into_iter().take(room).map(placed));
        self.groups.merge(next.groups);
    }
}
