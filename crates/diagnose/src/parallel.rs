//! Reading an input's chunks on several threads and taking the results in input order.

use std::collections::BTreeMap;
use std::io::Read;
use std::num::NonZeroUsize;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Mutex;

use crate::input::{Chunks, ReadError};

/// Chunks in flight per thread: read ahead while the threads work.
const AHEAD: usize = 2;

/// Reads every chunk of `chunks`, turns each into a result with `work` (on `threads`
/// threads, each with its own `W::State`), and hands the results to `take` in input order.
/// One thread works on the caller's; more read on the caller's and work on their own.
pub(crate) fn in_order<R, W>(
    chunks: &mut Chunks<R>,
    threads: NonZeroUsize,
    work: &W,
    mut take: impl FnMut(W::Output),
) -> Result<(), ReadError>
where
    R: Read,
    W: Work,
{
    if threads.get() == 1 {
        let mut state = W::State::default();
        let mut buf = Vec::new();
        while chunks.next_chunk(&mut buf)? {
            take(work.run(&mut state, &buf));
        }
        return Ok(());
    }
    let (jobs, queue) = mpsc::sync_channel::<(u64, Vec<u8>)>(threads.get() * AHEAD);
    let queue = Mutex::new(queue);
    let (done, results) = mpsc::channel::<(u64, W::Output, Vec<u8>)>();
    std::thread::scope(|scope| {
        for _ in 0..threads.get() {
            let done = done.clone();
            let queue = &queue;
            scope.spawn(move || {
                let mut state = W::State::default();
                loop {
                    let job = queue.lock().expect("no worker panics").recv();
                    let Ok((seq, buf)) = job else { break };
                    let output = work.run(&mut state, &buf);
                    if done.send((seq, output, buf)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done);
        let mut order = Order::default();
        let mut spare: Vec<Vec<u8>> = Vec::new();
        let mut sent = 0u64;
        let outcome = loop {
            let mut buf = spare.pop().unwrap_or_default();
            match chunks.next_chunk(&mut buf) {
                Ok(true) => {}
                Ok(false) => break Ok(()),
                Err(e) => break Err(e),
            }
            jobs.send((sent, buf)).expect("the workers wait for jobs");
            sent += 1;
            while let Ok((seq, output, buf)) = results.try_recv() {
                spare.push(buf);
                order.arrived(seq, output, &mut take);
            }
        };
        drop(jobs);
        for (seq, output, _) in results {
            order.arrived(seq, output, &mut take);
        }
        outcome
    })
}

/// Turns each of `pieces` (byte ranges of `data`, in order) into a result with `work`, on
/// `threads` threads that take the next piece as they finish one, and hands the results
/// to `take` in input order. Nothing is copied: the threads read `data` where it lies
/// (a mapped file), and the caller's thread only merges.
pub(crate) fn pieces_in_order<W: Work>(
    data: &[u8],
    pieces: &[Range<usize>],
    threads: NonZeroUsize,
    work: &W,
    mut take: impl FnMut(W::Output),
) {
    if threads.get() == 1 || pieces.len() <= 1 {
        let mut state = W::State::default();
        for piece in pieces {
            take(work.run(&mut state, &data[piece.clone()]));
        }
        return;
    }
    let next = AtomicUsize::new(0);
    let (done, results) = mpsc::channel::<(u64, W::Output)>();
    std::thread::scope(|scope| {
        for _ in 0..threads.get().min(pieces.len()) {
            let done = done.clone();
            let next = &next;
            scope.spawn(move || {
                let mut state = W::State::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(piece) = pieces.get(i) else { break };
                    let output = work.run(&mut state, &data[piece.clone()]);
                    if done.send((i as u64, output)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done);
        let mut order = Order::default();
        for (seq, output) in results {
            order.arrived(seq, output, &mut take);
        }
    });
}

/// What a thread does with a chunk.
pub(crate) trait Work: Sync {
    /// What a thread keeps from one chunk to the next (a parser's buffer).
    type State: Default;
    /// A chunk's result.
    type Output: Send;
    /// The result of `chunk`.
    fn run(&self, state: &mut Self::State, chunk: &[u8]) -> Self::Output;
}

/// Results that came before their turn.
struct Order<T> {
    next: u64,
    waiting: BTreeMap<u64, T>,
}

impl<T> Default for Order<T> {
    fn default() -> Self {
        Order {
            next: 0,
            waiting: BTreeMap::new(),
        }
    }
}

impl<T> Order<T> {
    /// Result `seq` arrived: hand it and those waiting behind it to `take`, in order.
    fn arrived(&mut self, seq: u64, output: T, take: &mut impl FnMut(T)) {
        self.waiting.insert(seq, output);
        while let Some(output) = self.waiting.remove(&self.next) {
            take(output);
            self.next += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sums each chunk's bytes, slowly for some.
    struct Sum;

    impl Work for Sum {
        type State = ();
        type Output = (usize, u64);

        fn run(&self, _: &mut (), chunk: &[u8]) -> (usize, u64) {
            if chunk.first() == Some(&b'a') {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            (chunk.len(), chunk.iter().map(|&b| u64::from(b)).sum())
        }
    }

    #[test]
    fn results_come_in_input_order_whatever_the_threads() {
        let line = |i: usize| {
            format!(
                "{}{}\n",
                if i.is_multiple_of(3) { 'a' } else { 'b' },
                "x".repeat(i % 97)
            )
        };
        let input: String = (0..20_000).map(line).collect();
        let run = |threads: usize| {
            let mut chunks = Chunks::with_size(input.as_bytes(), 70_000);
            let mut seen = Vec::new();
            in_order(
                &mut chunks,
                NonZeroUsize::new(threads).unwrap(),
                &Sum,
                |r| seen.push(r),
            )
            .unwrap();
            seen
        };
        let one = run(1);
        assert!(one.len() > 10, "{} chunks", one.len());
        assert_eq!(one.iter().map(|r| r.0).sum::<usize>(), input.len());
        for threads in [2, 3, 8] {
            assert_eq!(run(threads), one, "{threads} threads");
        }
        // The same pieces, read where they lie.
        let ranges: Vec<Range<usize>> = one
            .iter()
            .scan(0, |at, r| {
                *at += r.0;
                Some(*at - r.0..*at)
            })
            .collect();
        for threads in [1, 2, 3, 8] {
            let mut seen = Vec::new();
            pieces_in_order(
                input.as_bytes(),
                &ranges,
                NonZeroUsize::new(threads).unwrap(),
                &Sum,
                |r| seen.push(r),
            );
            assert_eq!(seen, one, "{threads} threads, in place");
        }
    }
}
