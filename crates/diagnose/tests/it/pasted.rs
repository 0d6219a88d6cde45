//! Logs as people paste them: prefixes, table borders, Markdown and CSV escaping, lines
//! without timestamps or cut short, mixed with chat text; what is not read is counted by
//! reason.

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor};
use std::path::Path;

use mesh5xx_diagnose::{diagnose, render_table, Diagnosis};

fn data(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Groups as (code, flags, direction, cluster, count), in order.
fn group_keys(d: &Diagnosis) -> Vec<(u16, String, String, Option<String>, u64)> {
    d.groups
        .iter()
        .map(|g| {
            let direction = g.direction.as_str().to_owned();
            (
                g.code,
                g.flags.clone(),
                direction,
                g.cluster.clone(),
                g.count,
            )
        })
        .collect()
}

#[test]
fn a_pasted_issue_comment_is_read_and_what_is_not_is_explained() {
    let d = diagnose(
        BufReader::new(File::open(data("pasted.log")).unwrap()),
        Vec::new(),
    );
    assert_eq!((d.lines, d.parsed, d.unparsed, d.partial), (15, 8, 7, 3));
    assert_eq!(d.formats.get("istio-legacy"), Some(&5));
    assert_eq!(d.formats.get("istio-current"), Some(&3));
    let groups = group_keys(&d);
    let inbound = Some("inbound|80|http|srv-a.xyz.svc.cluster.local".to_owned());
    let outbound = Some("outbound|8080||srv-b.default.svc.cluster.local".to_owned());
    assert_eq!(
        groups,
        [
            (503, "UC".into(), "inbound".into(), inbound, 4),
            (503, "URX,UF".into(), "outbound".into(), outbound, 2),
            // The server's side of a drained filter chain: a request cut with no response.
            (
                0,
                "DC".into(),
                "inbound".into(),
                Some("inbound|8080||".into()),
                1
            ),
            (
                504,
                "UT".into(),
                "passthrough".into(),
                Some("PassthroughCluster".into()),
                1
            ),
        ]
    );

    let unread: Vec<(&str, u64, u64)> = d
        .unread
        .iter()
        .map(|u| (u.reason.as_str(), u.lines, u.first.line))
        .collect();
    assert_eq!(
        unread,
        [
            ("not an access log line", 5, 1),
            ("cut before the response_flags", 1, 10),
            ("empty line", 1, 4),
        ]
    );
    assert_eq!(d.unread.iter().map(|u| u.lines).sum::<u64>(), d.unparsed);
    assert_eq!(
        d.unread[0].first.text,
        "Here are the logs from the sidecar:"
    );

    let text = render_table(&d);
    assert!(text.contains("\n7 lines not read:\n"), "{text}");
    assert!(
        text.contains("5  not an access log line         first -:1: Here are the logs"),
        "{text}"
    );
    assert!(
        text.contains("first -:10: [2022-04-18T09:34:00.000Z]"),
        "{text}"
    );
    assert!(
        text.contains("3 entries from lines without a timestamp or cut short"),
        "{text}"
    );

    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["partial"], 3);
    assert_eq!(json["unread"][1]["reason"], "cut before the response_flags");
    assert_eq!(json["unread"][1]["first"]["line"], 10);
    assert_eq!(json["unread"][1]["lines"], 1);
}

/// Every way of pasting a line, applied to a whole fixture: the groups (and so what they
/// are classified as) are those of the clean file.
#[test]
fn pasted_fixtures_group_as_the_clean_ones() {
    type Paste = fn(&str) -> String;
    let pastes: [(&str, Paste); 9] = [
        ("kubectl --prefix", |l| {
            format!("[pod/srv-a-5d8f/istio-proxy] {l}")
        }),
        ("stern", |l| {
            format!("\u{1b}[32msrv-a-5d8f\u{1b}[0m \u{1b}[34mistio-proxy\u{1b}[0m {l}")
        }),
        ("docker compose", |l| {
            format!("srv-a-1  | 2022-04-18T09:29:59.640123456Z {l}")
        }),
        ("k9s", |l| format!("│ {l}    │")),
        ("markdown", |l| format!("| `{}` |", l.replace('|', "\\|"))),
        ("csv", |l| {
            format!("2022-04-18,srv-a,\"{}\"", l.replace('"', "\"\""))
        }),
        ("no timestamp", |l| match l.strip_prefix('[') {
            Some(rest) if !l.starts_with("[{") => {
                rest.split_once("] ").map_or(l, |(_, r)| r).to_owned()
            }
            _ => l.to_owned(),
        }),
        ("cut after the cluster", |l| {
            match l.find(" 10.").or_else(|| l.find(" 100.")) {
                Some(i) if !l.starts_with('{') => format!("{}…", &l[..i + 4]),
                _ => l.to_owned(),
            }
        }),
        ("whole", |l| l.to_owned()),
    ];
    for fixture in [
        "inbound_keepalive_uc.log",
        "scale_up_app_not_ready.log",
        "outbound_timeout_ut.log",
        "pod_shutdown.log",
        "outbound_elb_ip_change.log",
    ] {
        let clean = std::fs::read_to_string(data(fixture)).unwrap();
        let want = diagnose(Cursor::new(clean.clone()), Vec::new());
        assert_eq!(want.unparsed, 0, "{fixture}");
        for (name, paste) in pastes {
            let pasted: String = clean.lines().map(|l| paste(l) + "\n").collect();
            let got = diagnose(Cursor::new(pasted), Vec::new());
            assert_eq!(got.unparsed, 0, "{fixture} {name}: {:?}", got.unread);
            assert_eq!(group_keys(&got), group_keys(&want), "{fixture} {name}");
        }
    }
}

/// Reading stays line by line: a pasted file read as a whole gives what its lines give one
/// by one.
#[test]
fn each_pasted_line_counts_once() {
    let file = BufReader::new(File::open(data("pasted.log")).unwrap());
    let mut parsed = 0;
    for line in file.lines() {
        let d = diagnose(Cursor::new(line.unwrap() + "\n"), Vec::new());
        parsed += d.parsed;
    }
    let whole = diagnose(
        BufReader::new(File::open(data("pasted.log")).unwrap()),
        Vec::new(),
    );
    assert_eq!(parsed, whole.parsed);
}
