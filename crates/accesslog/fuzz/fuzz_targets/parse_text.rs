//! Fuzzes the TEXT formats (Istio's of every generation, Envoy's default, custom ones):
//! what every entry promises, and that a plain line cut anywhere after its flags keeps
//! its code and flags.
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
    // Cut at every space after the word that follows the flags (where a terminal or a
    // selection may end it). A line that ends with its flags is read only when they are
    // all Envoy's: others may have been cut short.
    let code_flags = format!(" {} {}", whole.response_code, whole.response_flags);
    let Some(flags_at) = line.find(&format!("{code_flags} ")) else {
        return;
    };
    let after_flags = flags_at + code_flags.len();
    let mut parser = Parser::new();
    for (i, _) in line.match_indices(' ').filter(|&(i, _)| i > after_flags) {
        let cut = &line[..i];
        let e = parser
            .parse(cut)
            .unwrap_or_else(|err| panic!("{err}: cut {cut:?} of a line read whole"));
        assert_eq!(
            (e.response_code, e.response_flags),
            (whole.response_code, whole.response_flags),
            "cut {cut:?}"
        );
    }
});
