//! Parses every line of a file and prints how many lines each format read and the time
//! the parse took, apart from everything `diagnose` does with the entries.
//! Usage: cargo run --release -p mesh5xx-accesslog --example parse_file -- FILE
//! (`scripts/bench-diagnose.sh` runs it beside `diagnose` and `grep`.)

use std::time::Instant;

use mesh5xx_accesslog::{Format, Parser};

fn main() {
    let path = std::env::args().nth(1).expect("usage: parse_file FILE");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let text = String::from_utf8_lossy(&bytes);
    let mut parser = Parser::new();
    let mut formats = [0u64; Format::ALL.len()];
    let (mut lines, mut unread, mut codes) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    for line in text.lines() {
        lines += 1;
        match parser.parse(line) {
            Ok(e) => {
                formats[e.format.index()] += 1;
                codes += u64::from(e.response_code);
            }
            Err(_) => unread += 1,
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let mb = bytes.len() as f64 / 1_048_576.0;
    println!("{lines} lines, {unread} not read, code sum {codes}");
    for f in Format::ALL {
        println!("  {:<14} {}", f.as_str(), formats[f.index()]);
    }
    println!(
        "parse: {seconds:.3} s, {:.0} MB/s, {:.0} ns/line",
        mb / seconds,
        seconds * 1e9 / lines as f64
    );
}
