//! Fuzzes `key=value` lines: what every entry promises, and that words before the pairs
//! (a prefix) change nothing.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use mesh5xx_accesslog::{Format, Parser};

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    common::parse_both(&line);
    let mut parser = Parser::new();
    let Ok(e) = parser.parse(&line) else { return };
    if e.format != Format::KeyValue || line.len() > 2048 {
        return;
    }
    assert!(e.response_code <= 999);
    let e = e.clone();
    let prefixed = format!("[pod/srv-a-5d8f/istio-proxy] {line}");
    let mut again = Parser::new();
    assert_eq!(again.parse(&prefixed), Ok(e), "prefixed {prefixed:?}");
});
