//! Fuzzes pasted lines: what every entry promises, and that a plain line pasted every way
//! people paste (kubectl, stern, docker compose, k9s, Markdown tables, CSV) reads to the
//! same code and flags.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use mesh5xx_accesslog::{parse_line, Parser};

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    common::parse_both(&line);
    let Ok(whole) = parse_line(&line) else { return };
    if !common::plain_text(&line, &whole) {
        return;
    }
    let pastes = [
        format!("[pod/srv-a-5d8f/istio-proxy] {line}"),
        format!("\u{1b}[32msrv-a-5d8f\u{1b}[0m \u{1b}[34mistio-proxy\u{1b}[0m {line}"),
        format!("srv-a-1  | 2024-03-01T10:00:00.123456789Z {line}"),
        format!("│ {line}    │"),
        format!("| `{}` |", line.replace('|', "\\|")),
        format!("2024-03-01,srv-a,\"{}\"", line.replace('"', "\"\"")),
    ];
    let mut parser = Parser::new();
    for pasted in &pastes {
        let e = parser
            .parse(pasted)
            .unwrap_or_else(|err| panic!("{err}: {pasted:?} of a line read whole"));
        assert_eq!(
            (e.response_code, e.response_flags),
            (whole.response_code, whole.response_flags),
            "{pasted:?}"
        );
    }
});
