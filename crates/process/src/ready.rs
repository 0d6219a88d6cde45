//! The READY line: how a child tells its parent where it listens.

use serde::Serialize;
use std::io::Write;

/// Prefix of the one line a lab process prints once it is listening.
pub const READY_PREFIX: &str = "MESH5XX-READY ";

/// Print `MESH5XX-READY <json>` on stdout and flush it.
pub fn announce_ready<T: Serialize>(info: &T) -> std::io::Result<()> {
    let json = serde_json::to_string(info).map_err(std::io::Error::other)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{READY_PREFIX}{json}")?;
    out.flush()
}

/// The JSON payload of a READY line, or `None` when `line` is not one.
pub fn parse_ready_line(line: &str) -> Option<serde_json::Value> {
    let json = line.trim_end().strip_prefix(READY_PREFIX)?;
    serde_json::from_str(json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_line_round_trips() {
        let v = parse_ready_line(r#"MESH5XX-READY {"addr":"127.0.0.1:9"}"#).unwrap();
        assert_eq!(v["addr"], "127.0.0.1:9");
    }

    #[test]
    fn other_lines_are_not_ready_lines() {
        assert!(parse_ready_line("listening on 127.0.0.1:9").is_none());
        assert!(parse_ready_line("MESH5XX-READY not json").is_none());
    }
}
