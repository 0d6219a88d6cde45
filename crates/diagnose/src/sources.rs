//! Where a line's request went (its source: input, cluster and upstream host), and what each
//! source did in the log's order: answered, failed, failed again after answering.

use std::hash::{BuildHasherDefault, Hasher};

use indexmap::IndexMap;
use mesh5xx_accesslog::Entry;

/// Where a line's request went: the input it was read from, its upstream cluster and its
/// upstream host, hashed (a source is one word: no string of it is kept or compared). Pods of one
/// service share cluster names (and, before Istio 1.10, the inbound host `127.0.0.1:PORT`),
/// so logs of several pods are told apart by their input.
pub(crate) fn source_id(input: usize, e: &Entry<'_>) -> u64 {
    let mut h = WordHasher::default();
    h.write_usize(input);
    h.write(e.upstream_cluster.unwrap_or("").as_bytes());
    h.write_u8(0);
    h.write(e.upstream_host.unwrap_or("").as_bytes());
    h.finish()
}

/// Sources are hashes already: a map keyed by them uses the key as its hash. Ordered, so
/// that stretches of a log merge as the log reads.
pub(crate) type BySource<V> = IndexMap<u64, V, BuildHasherDefault<AsHash>>;

/// The hasher of [`BySource`]: the `u64` written is the hash.
#[derive(Default)]
pub(crate) struct AsHash(u64);

impl Hasher for AsHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A map keyed by short strings from the log (hosts, IPs), hashed eight bytes at a time.
pub(crate) type ByName<V> = IndexMap<String, V, BuildHasherDefault<WordHasher>>;

/// A fast hash of short keys, eight bytes at a time (the multiply-rotate of rustc's
/// `FxHasher`): no defence against chosen collisions, which a log's reader needs none of.
#[derive(Default)]
pub(crate) struct WordHasher(u64);

impl WordHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for WordHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    /// Eight bytes at a time; the last (or only) word is read overlapping the one before,
    /// so no short copy is made. With the length mixed in, different keys of the same
    /// length give different words.
    fn write(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
        let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
        self.add(n as u64);
        if n >= 8 {
            let mut at = 0;
            while at + 8 < n {
                self.add(u64_at(at));
                at += 8;
            }
            self.add(u64_at(n - 8));
        } else if n >= 4 {
            self.add(u64::from(u32_at(0)) | u64::from(u32_at(n - 4)) << 32);
        } else if n > 0 {
            let b = |i: usize| u64::from(bytes[i]);
            self.add(b(0) | b(n / 2) << 8 | b(n - 1) << 16);
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

/// What one source did over a stretch of the log, in the log's order: enough to continue
/// it with the next stretch ([`SourceSeen::merge`]) as if read line by line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct SourceSeen {
    /// The earliest and the latest start times of a response below 500 (millis).
    pub(crate) answered: Option<(i64, i64)>,
    /// It answered 5xx.
    failed: bool,
    /// It answered below 500 before its first 5xx.
    answered_before_error: bool,
    /// It answered below 500 after its latest 5xx.
    answered_since_error: bool,
    /// It answered 5xx, then below 500, then 5xx again.
    pub(crate) recurred: bool,
}

impl SourceSeen {
    /// A response started at `ms` (when its time could be read), below 500 or not (`ok`).
    pub(crate) fn saw(&mut self, ms: Option<i64>, ok: bool) {
        if !ok {
            self.recurred |= self.answered_since_error;
            self.failed = true;
            self.answered_since_error = false;
            return;
        }
        self.answered_since_error |= self.failed;
        self.answered_before_error |= !self.failed;
        if let Some(ms) = ms {
            self.answered = Some(match self.answered {
                Some((earliest, latest)) => (earliest.min(ms), latest.max(ms)),
                None => (ms, ms),
            });
        }
    }

    /// Continues with `next`, what the source did in the stretch that follows.
    pub(crate) fn merge(&mut self, next: SourceSeen) {
        self.recurred |= next.recurred
            || (next.failed
                && (self.answered_since_error || (self.failed && next.answered_before_error)));
        self.answered_since_error = if next.failed {
            next.answered_since_error
        } else {
            // Without an error, whatever `next` answered came before any.
            self.answered_since_error || (self.failed && next.answered_before_error)
        };
        if !self.failed {
            self.answered_before_error |= next.answered_before_error;
        }
        self.failed |= next.failed;
        self.answered = match (self.answered, next.answered) {
            (Some((e1, l1)), Some((e2, l2))) => Some((e1.min(e2), l1.max(l2))),
            (a, b) => a.or(b),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys of every length up to 40 bytes hash apart from the same key with one byte
    /// changed or the last byte cut, and alike for equal keys.
    #[test]
    fn keys_differing_in_one_byte_hash_apart() {
        let hash = |bytes: &[u8]| {
            let mut h = WordHasher::default();
            h.write(bytes);
            h.finish()
        };
        for len in 0..=40 {
            let key: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            assert_eq!(hash(&key), hash(&key.clone()));
            let mut hashes = std::collections::HashSet::from([hash(&key)]);
            for at in 0..len {
                let mut other = key.clone();
                other[at] = b'.';
                assert!(hashes.insert(hash(&other)), "{len} {at}");
            }
            assert!(hashes.insert(hash(&key[..len.saturating_sub(1)])) || len == 0);
        }
    }

    /// Every split of every sequence of up to 7 answers and errors merges to what reading
    /// it in one go gives.
    #[test]
    fn merged_stretches_read_as_the_whole() {
        for len in 0..=7u32 {
            for bits in 0..(1u32 << len) {
                // Every third answer without a time.
                let events: Vec<(Option<i64>, bool)> = (0..len)
                    .map(|i| {
                        let ms = (i % 3 != 2).then_some(i64::from((i * 5) % 7));
                        (ms, bits & (1 << i) != 0)
                    })
                    .collect();
                let read = |events: &[(Option<i64>, bool)]| {
                    let mut s = SourceSeen::default();
                    events.iter().for_each(|(ms, ok)| s.saw(*ms, *ok));
                    s
                };
                let whole = read(&events);
                for cut in 0..=events.len() {
                    for cut2 in cut..=events.len() {
                        let mut merged = read(&events[..cut]);
                        merged.merge(read(&events[cut..cut2]));
                        merged.merge(read(&events[cut2..]));
                        assert_eq!(merged, whole, "{events:?} cut at {cut}, {cut2}");
                    }
                }
            }
        }
    }
}
