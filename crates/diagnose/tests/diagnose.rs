//! `diagnose` on fixture logs: each scenario's typical lines map to that scenario.

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
    diagnose(BufReader::new(File::open(path).unwrap()))
}

fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .unwrap()
}

fn only_scenario(d: &Diagnosis) -> Vec<Option<&'static str>> {
    d.groups.iter().map(|g| g.scenario).collect()
}

#[test]
fn inbound_keepalive_uc() {
    let d = fixture("inbound_keepalive_uc.log");
    assert_eq!(only_scenario(&d), [Some("inbound-keepalive-uc")]);
    let g = &d.groups[0];
    assert_eq!((g.code, g.flags.as_str(), g.count), (503, "UC", 17));
    assert_eq!(g.bytes_sent[0], ("95".to_owned(), 17));
    assert_eq!(
        g.command.as_deref(),
        Some("mesh5xx run inbound-keepalive-uc")
    );
    assert!(g.mitigations.iter().any(|m| m.contains("idleTimeout")));
}

#[test]
fn inbound_app_down_uf() {
    let d = fixture("inbound_app_down_uf.log");
    assert_eq!(only_scenario(&d), [Some("inbound-app-down-uf")]);
    assert!(d.groups[0].evidence.contains("Connection_refused"));
}

#[test]
fn outbound_firewall_uf_is_bursty() {
    let d = fixture("outbound_firewall_uf.log");
    assert_eq!(only_scenario(&d), [Some("outbound-firewall-uf")]);
    let b = d.groups[0].bursts.as_ref().unwrap();
    assert_eq!((b.bursts, b.period_secs), (3, Some(3600)));
    assert!(d.groups[0].mitigations[0].contains("resolution: DNS"));
}

#[test]
fn outbound_elb_ip_change() {
    let d = fixture("outbound_elb_ip_change.log");
    assert_eq!(
        only_scenario(&d),
        [
            Some("outbound-elb-ip-change"),
            Some("outbound-elb-ip-change")
        ]
    );
    assert!(d.groups[0].evidence.contains("moved from 52.1.1.1:80"));
}

#[test]
fn outbound_timeout_ut() {
    let d = fixture("outbound_timeout_ut.log");
    assert_eq!(only_scenario(&d), [Some("outbound-timeout-ut")]);
    let durations = d.groups[0].duration_ms.unwrap();
    assert_eq!((durations.min, durations.max), (15000, 15006));
    assert!(d.groups[0].evidence.contains("just over a 15 s timeout"));
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
    let d = diagnose(Cursor::new(format!("{line}\n")));
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
    let mut d = Diagnoser::new(5);
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
    let mut d = Diagnoser::new(5);
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
    let unmatched = diagnose(Cursor::new(
        "[2022-04-18T09:29:59.633Z] \"GET / HTTP/1.1\" 500 - 0 10 1 1 \"-\" \"-\" \"x\" \"a\" \"b\"\n",
    ));
    let v = serde_json::to_value(&unmatched).unwrap();
    assert!(v["groups"][0]["scenario"].is_null());
}
