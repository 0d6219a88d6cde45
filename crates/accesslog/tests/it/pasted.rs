//! The pasted-line corpus (`tests/data/pasted/*.log`, described in its README): every
//! line reads as its expectation says, through [`Parser`] and, where no unescaping is
//! needed, [`parse_line`] alike.

use std::path::{Path, PathBuf};

use mesh5xx_accesslog::{parse_line, Entry, ParseError, Parser};

/// What a corpus line must read as.
#[derive(Debug)]
enum Expect {
    /// `= key=value …` lines: the entry's fields.
    Fields(Vec<(String, String)>),
    /// `! REASON`: not read, for this reason.
    Unread(String),
}

/// One log line of the corpus and what it must read as.
#[derive(Debug)]
struct Case {
    file: String,
    line: usize,
    text: String,
    expect: Expect,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pasted")
}

/// Every case of every `.log` file of the corpus, in file order.
fn cases() -> Vec<Case> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "corpus files: {files:?}");
    let mut cases = Vec::new();
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let content = std::fs::read_to_string(&path).unwrap();
        let mut current: Option<Case> = None;
        for (i, raw) in content.lines().enumerate() {
            if let Some(pairs) = raw.strip_prefix("= ") {
                let case = current
                    .as_mut()
                    .unwrap_or_else(|| panic!("{file}:{}: expectation without a line", i + 1));
                let Expect::Fields(fields) = &mut case.expect else {
                    panic!("{file}:{}: `=` after `!`", i + 1);
                };
                for pair in pairs.split("  ").filter(|p| !p.is_empty()) {
                    let (key, value) = pair
                        .split_once('=')
                        .unwrap_or_else(|| panic!("{file}:{}: bad pair {pair:?}", i + 1));
                    fields.push((key.trim().to_owned(), value.to_owned()));
                }
            } else if let Some(reason) = raw.strip_prefix("! ") {
                let case = current
                    .as_mut()
                    .unwrap_or_else(|| panic!("{file}:{}: expectation without a line", i + 1));
                case.expect = Expect::Unread(reason.to_owned());
            } else if raw.trim().is_empty() || raw.starts_with('#') {
                continue;
            } else {
                cases.extend(current.take());
                current = Some(Case {
                    file: file.clone(),
                    line: i + 1,
                    text: raw.to_owned(),
                    expect: Expect::Fields(Vec::new()),
                });
            }
        }
        cases.extend(current);
    }
    cases
}

/// The entry's field `key` as the corpus writes it (`-` for `None`).
fn field(e: &Entry<'_>, key: &str) -> String {
    let opt = |v: Option<&str>| v.unwrap_or("-").to_owned();
    let num = |v: Option<u64>| v.map_or("-".to_owned(), |n| n.to_string());
    match key {
        "format" => e.format.to_string(),
        "start" => e.start_time.to_owned(),
        "method" => e.method.to_owned(),
        "path" => e.path.to_owned(),
        "protocol" => e.protocol.to_owned(),
        "code" => e.response_code.to_string(),
        "flags" => e.response_flags.to_owned(),
        "details" => opt(e.response_code_details),
        "termination" => opt(e.connection_termination_details),
        "reason" => opt(e.upstream_transport_failure_reason),
        "received" => e.bytes_received.to_string(),
        "sent" => e.bytes_sent.to_string(),
        "duration" => num(e.duration_ms),
        "service_time" => num(e.upstream_service_time),
        "xff" => opt(e.x_forwarded_for),
        "ua" => opt(e.user_agent),
        "request_id" => opt(e.request_id),
        "authority" => opt(e.authority),
        "host" => opt(e.upstream_host),
        "cluster" => opt(e.upstream_cluster),
        "upstream_local" => opt(e.upstream_local_address),
        "downstream_local" => opt(e.downstream_local_address),
        "downstream_remote" => opt(e.downstream_remote_address),
        "sni" => opt(e.requested_server_name),
        "route" => opt(e.route_name),
        "partial" => e.partial.to_string(),
        other => panic!("unknown corpus key {other:?}"),
    }
}

#[test]
fn every_pasted_line_reads_as_expected() {
    let cases = cases();
    let mut parser = Parser::new();
    let mut failures = Vec::new();
    let (mut read, mut unread) = (0, 0);
    for case in &cases {
        let at = format!("{}:{}", case.file, case.line);
        let got = parser.parse(&case.text);
        match (&case.expect, got) {
            (Expect::Fields(fields), Ok(e)) => {
                read += 1;
                for required in ["format", "code", "flags", "partial"] {
                    assert!(
                        fields.iter().any(|(k, _)| k == required),
                        "{at}: the expectation must give `{required}`"
                    );
                }
                for (key, want) in fields {
                    let have = field(&e, key);
                    if &have != want {
                        failures.push(format!("{at}: {key} is {have:?}, expected {want:?}"));
                    }
                }
            }
            (Expect::Fields(_), Err(err)) => {
                failures.push(format!("{at}: not read ({err}): {}", case.text));
            }
            (Expect::Unread(reason), Ok(e)) => {
                failures.push(format!(
                    "{at}: read as {} {} {}, expected unread ({reason})",
                    e.format, e.response_code, e.response_flags
                ));
            }
            (Expect::Unread(reason), Err(err)) => {
                unread += 1;
                if &err.reason().to_string() != reason {
                    failures.push(format!(
                        "{at}: unread because {}, expected {reason}",
                        err.reason()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(read >= 60 && unread >= 5, "{read} read, {unread} unread");
}

/// `parse_line` reads every line `Parser` reads, to the same entry, except the escaped
/// ones it refuses.
#[test]
fn parse_line_agrees_with_parser_or_refuses_escaped_lines() {
    let mut parser = Parser::new();
    let mut refused = 0;
    for case in cases() {
        let at = format!("{}:{}", case.file, case.line);
        let direct = parse_line(&case.text);
        let via_parser = parser.parse(&case.text);
        match (direct, via_parser) {
            (Err(ParseError::Escaped), Ok(_)) => refused += 1,
            (direct, via_parser) => assert_eq!(direct, via_parser, "{at}"),
        }
    }
    assert!(refused >= 4, "{refused} escaped lines");
}
