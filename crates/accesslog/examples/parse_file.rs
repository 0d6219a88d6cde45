//! Parses every line of a file three times and prints how many lines each format read and
//! the fastest pass's time: the parse alone, apart from everything `diagnose` does with the
//! entries.
//! Usage: cargo run --release -p mesh5xx-accesslog --example parse_file -- FILE
//! (`scripts/bench-diagnose.sh` runs it beside `diagnose` and `grep`.)

use std::time::Instant;

use mesh5xx_accesslog::{Format, Parser};

/// Passes over the file; the fastest counts (the others met more of the machine's other work).
const PASSES: usize = 3;

/// Lines, lines not read, and lines by format, of one pass over `text`.
fn parse_all(text: &str, parser: &mut Parser) -> (u64, u64, [u64; Format::ALL.len()]) {
    let mut formats = [0u64; Format::ALL.len()];
    let (mut lines, mut unread) = (0u64, 0u64);
    for line in text.split_terminator('\n') {
        lines += 1;
        match parser.parse(line) {
            Ok(e) => formats[e.format.index()] += 1,
            Err(_) => unread += 1,
        }
    }
    (lines, unread, formats)
}

fn main() {
    let path = std::env::args().nth(1).expect("usage: parse_file FILE");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let text = std::str::from_utf8(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut parser = Parser::new();
    let mut fastest = f64::MAX;
    let mut counts = (0, 0, [0; Format::ALL.len()]);
    for _ in 0..PASSES {
        let start = Instant::now();
        counts = parse_all(text, &mut parser);
        fastest = fastest.min(start.elapsed().as_secs_f64());
    }
    let (lines, unread, formats) = counts;
    println!("{lines} lines, {unread} not read");
    for f in Format::ALL {
        println!("  {:<14} {}", f.as_str(), formats[f.index()]);
    }
    let mb = bytes.len() as f64 / 1_048_576.0;
    println!(
        "parse: {fastest:.3} s (fastest of {PASSES}), {:.0} MB/s, {:.0} ns/line",
        mb / fastest,
        fastest * 1e9 / lines as f64
    );
}
