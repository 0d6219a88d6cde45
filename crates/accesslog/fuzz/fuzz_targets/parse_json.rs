//! Fuzzes JSON lines (Istio's keys or renamed ones, any order, any value types): what
//! every entry promises, and that a prefix before a whole object changes nothing.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use mesh5xx_accesslog::{parse_line, Format};

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    common::parse_both(&line);
    let Ok(e) = parse_line(&line) else { return };
    if e.format != Format::IstioJson || e.partial || !line.starts_with('{') || line.len() > 2048 {
        return;
    }
    let prefixed = format!("[pod/srv-a-5d8f/istio-proxy] {line}");
    assert_eq!(parse_line(&prefixed), Ok(e), "prefixed {prefixed:?}");
});
