//! `diagnose` on fixture logs: formats, noise, compressed input, the JSON shape, and lines
//! no rule matches. (Each scenario's own lines are matched against the catalog's signatures
//! in the scenario crate's tests.)

use std::fs::File;
use std::io::{BufReader, Cursor, Write};
use std::path::Path;

use flate2::write::GzEncoder;
use flate2::Compression;
use mesh5xx_diagnose::{diagnose, maybe_gunzip, Diagnoser, Diagnosis};

fn fixture(name: &str) -> Diagnosis {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    diagnose(BufReader::new(File::open(path).unwrap()), Vec::new())
}

fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .unwrap()
}

#[test]
fn mixed_formats_and_noise() {
    let d = fixture("mixed.log");
    assert_eq!((d.lines, d.parsed, d.unparsed), (14, 8, 6));
    assert_eq!(d.formats.len(), 4);
    assert_eq!(d.unparsed_samples.len(), 5);
    assert!(d
        .unparsed_samples
        .iter()
        .all(|s| s.text.chars().count() <= 200));
    assert_eq!(d.groups.len(), 3);
}

#[test]
fn unmatched_groups_explain_their_flags() {
    let line = r#"[2022-04-18T09:29:59.633Z] "GET /a HTTP/1.1" 503 UO,URX "-" "-" 0 81 0 - "-" "-" "x" "srv-c" "-" outbound|80||srv-c.default.svc.cluster.local - 10.96.0.3:80 10.244.0.9:1234 -"#;
    let d = diagnose(Cursor::new(format!("{line}\n")), Vec::new());
    let g = &d.groups[0];
    assert_eq!(g.scenario, None);
    assert!(g.evidence.contains("UO: upstream overflow"));
    assert!(g.notes.iter().any(|n| n.starts_with("URX")));
    assert!(g.notes.iter().any(|n| n.starts_with("UO")));
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn read_bytes(bytes: Vec<u8>) -> Diagnosis {
    let mut d = Diagnoser::new(5, Vec::new());
    d.read("input.gz", maybe_gunzip(Cursor::new(bytes)).unwrap());
    d.finish()
}

#[test]
fn gzip_single_and_concatenated_members() {
    let plain = fixture_bytes("outbound_timeout_ut.log");
    let d = read_bytes(gzip(&plain));
    assert_eq!((d.lines, d.parsed), (60, 60));

    let (a, b) = plain.split_at(plain.len() / 2);
    let mut two = gzip(a);
    two.extend(gzip(b));
    let d = read_bytes(two);
    assert_eq!((d.lines, d.parsed), (60, 60));
    assert_eq!(d.inputs[0].error, None);
}

#[test]
fn truncated_gzip_keeps_what_was_read() {
    let plain = fixture_bytes("outbound_firewall_uf.log");
    let mut gz = gzip(&plain);
    gz.truncate(gz.len() / 2);
    let d = read_bytes(gz);
    assert!(d.lines > 0 && d.lines < 960, "{} lines", d.lines);
    let error = d.inputs[0].error.as_deref().unwrap();
    assert!(error.contains(&format!("line {}", d.lines + 1)), "{error}");
    assert!(!d.nothing_read());
}

#[test]
fn nothing_read_is_reported() {
    let mut d = Diagnoser::new(5, Vec::new());
    d.input_failed("missing.log", "No such file or directory".into());
    let d = d.finish();
    assert!(d.nothing_read());
    assert!(mesh5xx_diagnose::render_table(&d).contains("nothing could be read"));
}

#[test]
fn json_shape() {
    let d = fixture("mixed.log");
    let v = serde_json::to_value(&d).unwrap();
    for key in [
        "lines",
        "parsed",
        "unparsed",
        "formats",
        "groups",
        "unparsed_samples",
        "inputs",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["formats"]["istio-legacy"], 5);
    let g = &v["groups"][0];
    for key in [
        "code",
        "flags",
        "direction",
        "cluster",
        "count",
        "first",
        "last",
        "scenario",
        "evidence",
        "mitigations",
        "command",
        "bursts",
    ] {
        assert!(g.get(key).is_some(), "missing groups[].{key}");
    }
    assert_eq!(g["direction"], "inbound");
    assert!(g["mitigations"].is_array());
    assert!(g["bursts"]["bursts"].is_u64());
    let sample = &v["unparsed_samples"][0];
    assert!(sample["line"].is_u64() && sample["text"].is_string());
    let unmatched = diagnose(
        Cursor::new(
            "[2022-04-18T09:29:59.633Z] \"GET / HTTP/1.1\" 500 - 0 10 1 1 \"-\" \"-\" \"x\" \"a\" \"b\"\n",
        ),
        Vec::new(),
    );
    let v = serde_json::to_value(&unmatched).unwrap();
    assert!(v["groups"][0]["scenario"].is_null());
}

/// Whether a failing upstream answered again is judged per input: pods of one service share
/// the cluster name and (before Istio 1.10) the inbound host, so another pod's successes do
/// not make a pod that went away look recovered.
#[test]
fn recovery_is_judged_per_input_and_upstream() {
    let line = |t: &str, code: u16, flags: &str| {
        format!(
            r#"[2022-04-18T09:00:{t}Z] "GET / HTTP/1.1" {code} {flags} "-" "-" 0 91 0 - "-" "-" "x" "srv-a" "127.0.0.1:8080" inbound|8080|http|srv-a.default.svc.cluster.local - 10.244.0.7:8080 10.244.0.9:1234 -"#
        ) + "\n"
    };
    let gone = [line("01.000", 200, "-"), line("02.000", 503, "UF")].concat();
    let other_pod = [line("03.000", 200, "-")].concat();
    let diagnose_inputs = |inputs: &[(&str, &str)]| {
        let mut d = Diagnoser::new(5, Vec::new());
        for (name, text) in inputs {
            d.read(name, Cursor::new(text.as_bytes().to_vec()));
        }
        d.finish().groups[0].evidence.clone()
    };
    let e = diagnose_inputs(&[("srv-a-0.log", &gone), ("srv-a-1.log", &other_pod)]);
    assert!(e.contains("answered nothing after its last error"), "{e}");
    // The same lines in one input: the pod came back.
    let e = diagnose_inputs(&[("srv-a-0.log", &[gone.clone(), other_pod.clone()].concat())]);
    assert!(e.contains("answered again after its last error"), "{e}");
    // Only errors pasted: nothing to judge by.
    let e = diagnose_inputs(&[("errors.log", &line("02.000", 503, "UF"))]);
    assert!(!e.contains("answered"), "{e}");
}

/// An upstream that fails, answers, and fails again (a crash loop) is told from one that
/// failed once and came back; another pod's answers in between do not count.
#[test]
fn a_failure_that_recurs_after_answers_is_told_from_a_single_outage() {
    let line = |t: &str, code: u16, flags: &str| {
        format!(
            r#"[2022-04-18T09:00:{t}Z] "GET / HTTP/1.1" {code} {flags} "-" "-" 0 91 0 - "-" "-" "x" "srv-a" "127.0.0.1:8080" inbound|8080|http|srv-a.default.svc.cluster.local - 10.244.0.7:8080 10.244.0.9:1234 -"#
        ) + "\n"
    };
    let evidence = |inputs: &[(&str, String)]| {
        let mut d = Diagnoser::new(5, Vec::new());
        for (name, text) in inputs {
            d.read(name, Cursor::new(text.as_bytes().to_vec()));
        }
        d.finish().groups[0].evidence.clone()
    };
    let recurs = "failed again";
    let once = [
        line("01.000", 200, "-"),
        line("02.000", 503, "UF"),
        line("02.500", 503, "UF"),
        line("03.000", 200, "-"),
    ]
    .concat();
    let e = evidence(&[("srv-a-0.log", once.clone())]);
    assert!(!e.contains(recurs), "{e}");
    let twice = [
        once.clone(),
        line("04.000", 503, "UF"),
        line("05.000", 200, "-"),
    ]
    .concat();
    let e = evidence(&[("srv-a-0.log", twice)]);
    assert!(e.contains(recurs), "{e}");
    // The answer in between came from another pod's log: no recurrence.
    let e = evidence(&[
        (
            "srv-a-0.log",
            [line("02.000", 503, "UF"), line("04.000", 503, "UF")].concat(),
        ),
        ("srv-a-1.log", line("03.000", 200, "-")),
    ]);
    assert!(!e.contains(recurs), "{e}");
}
