//! Reading in chunks on several threads: the diagnosis is the one reading the log in one
//! piece gives, whatever the number of threads and wherever the chunks end.

use std::num::NonZeroUsize;
use std::path::Path;

use mesh5xx_diagnose::{render_table, Diagnoser, Diagnosis, MAX_LINE};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .unwrap()
}

/// The lines of `text`, each with its line ending.
fn lines(text: &[u8]) -> Vec<&[u8]> {
    text.split_inclusive(|&b| b == b'\n').collect()
}

/// A few thousand lines of every fixture, the crash loop's lines (a source that fails,
/// answers and fails again) spread thinly over all of it, so that its order spans chunks.
fn log() -> Vec<u8> {
    let others: Vec<Vec<u8>> = [
        "inbound_keepalive_uc.log",
        "outbound_firewall_uf.log",
        "outbound_elb_ip_change.log",
        "inbound_app_down_uf.log",
        "pod_shutdown.log",
        "outbound_timeout_ut.log",
        "mixed.log",
        "pasted.log",
    ]
    .iter()
    .flat_map(|name| {
        lines(&fixture(name))
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect::<Vec<_>>()
    })
    .collect();
    let crash = fixture("app_crash_loop.log");
    let mut crash = lines(&crash).into_iter();
    let every = others.len() / crash.len();
    let mut out = Vec::new();
    for (i, line) in others.iter().enumerate() {
        out.extend_from_slice(line);
        if i % every == 0 {
            out.extend_from_slice(crash.next().unwrap_or_default());
        }
    }
    crash.for_each(|line| out.extend_from_slice(line));
    out
}

fn read(log: &[u8], threads: usize, chunk: usize) -> Diagnosis {
    let mut d = Diagnoser::new(5, Vec::new())
        .threads(NonZeroUsize::new(threads).unwrap())
        .chunk_size(chunk);
    d.read("log", log);
    d.finish()
}

#[test]
fn any_threads_and_chunks_give_the_diagnosis_of_one_piece() {
    let log = log();
    let count = lines(&log).len();
    assert!(count > 2_500, "{count} lines");
    let whole = read(&log, 1, log.len() + 1);
    assert!(
        whole
            .groups
            .iter()
            .any(|g| g.evidence.contains("then failed again")),
        "the crash loop recurs: {:#?}",
        whole.groups
    );
    let json = serde_json::to_string_pretty(&whole).unwrap();
    let table = render_table(&whole);
    let mut chunks = 0;
    for chunk in [MAX_LINE + 1, 100_003, 1 << 20] {
        for threads in [1, 2, 3, 8] {
            let d = read(&log, threads, chunk);
            chunks = chunks.max(log.len() / chunk);
            assert_eq!(
                serde_json::to_string_pretty(&d).unwrap(),
                json,
                "{threads} threads, {chunk}-byte chunks"
            );
            assert_eq!(
                render_table(&d),
                table,
                "{threads} threads, {chunk}-byte chunks"
            );
            let mut d = Diagnoser::new(5, Vec::new())
                .threads(NonZeroUsize::new(threads).unwrap())
                .chunk_size(chunk);
            d.read_bytes("log", &log);
            assert_eq!(
                serde_json::to_string_pretty(&d.finish()).unwrap(),
                json,
                "{threads} threads, {chunk}-byte pieces read in place"
            );
        }
    }
    assert!(chunks >= 8, "the log spans {chunks} chunks only");
}

/// A chunk of ASCII only is read without a UTF-8 check per line; a chunk with other bytes
/// is checked line by line, and a line that is not UTF-8 is read with its bad bytes
/// replaced. Both give what one piece gives.
#[test]
fn chunks_with_and_without_non_ascii_bytes_read_alike() {
    let line = |ua: &[u8]| {
        let mut l =
            br#"[2022-04-18T09:37:00.000Z] "GET /a HTTP/1.1" 503 UC "-" "-" 0 95 11 - "-" ""#
                .to_vec();
        l.extend_from_slice(ua);
        l.extend_from_slice(br#"" "r8" "srv-a" "127.0.0.1:8080" inbound|80|http|srv-a.svc.cluster.local - 10.0.0.1:8080 10.0.0.2:35174 -"#);
        l.push(b'\n');
        l
    };
    let mut log = Vec::new();
    for i in 0..3_000 {
        log.extend(match i % 1_000 {
            500 => line("café/1.0".as_bytes()),
            501 => line(b"bad\xff\xfe/1.0"),
            _ => line(b"curl/8.5.0"),
        });
    }
    let whole = read(&log, 1, log.len() + 1);
    assert_eq!((whole.lines, whole.parsed), (3_000, 3_000));
    let json = serde_json::to_string_pretty(&whole).unwrap();
    // Chunks of a few lines: most of them ASCII only, some holding the other lines.
    for threads in [1, 2] {
        let mut d = Diagnoser::new(5, Vec::new())
            .threads(NonZeroUsize::new(threads).unwrap())
            .chunk_size(MAX_LINE + 1);
        d.read_bytes("log", &log);
        assert_eq!(serde_json::to_string_pretty(&d.finish()).unwrap(), json);
    }
}
