//! Failures with no response (code 0) and what they are: a scenario whose signature needs
//! the details the lines log, or, with no scenario, a cause that is no fault of the mesh.

use mesh5xx_diagnose::{diagnose, render_table, Rule, Signature};

/// `N` lines `CODE FLAGS DETAILS` on the server's inbound cluster, a second apart, after
/// answers from the same upstream.
fn log(code: u16, flags: &str, details: &str, n: usize) -> String {
    let line = |s: usize, code: u16, flags: &str, details: &str| {
        format!(
            r#"[2024-11-07T10:00:{s:02}.000Z] "GET /orders HTTP/1.1" {code} {flags} {details} - "-" 0 0 4 - "-" "curl/8.5.0" "r{s}" "srv-b:8080" "10.244.0.7:8080" inbound|8080|| 127.0.0.6:41000 10.244.0.7:8080 10.244.0.9:51234 - default"#
        ) + "\n"
    };
    let mut out: String = (0..5).map(|s| line(s, 200, "-", "via_upstream")).collect();
    out.extend((5..5 + n).map(|s| line(s, code, flags, details)));
    out
}

fn rule(name: &str, signature: serde_json::Value) -> Rule {
    let signature: Signature = serde_json::from_value(signature).unwrap();
    signature.validate().unwrap();
    Rule {
        scenario: name.to_owned(),
        signature,
        fixes: Vec::new(),
    }
}

#[test]
fn a_client_that_went_away_is_no_fault_of_the_mesh() {
    let d = diagnose(
        log(0, "DC", "downstream_remote_disconnect", 3).as_bytes(),
        Vec::new(),
    );
    assert_eq!(d.groups.len(), 1);
    let g = &d.groups[0];
    assert_eq!((g.code, g.flags.as_str(), g.count), (0, "DC", 3));
    assert_eq!(g.scenario, None);
    let known = g.known_cause.as_ref().expect("a known cause");
    assert_eq!(known.cause, "client-disconnect");
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(
        json["groups"][0]["known_cause"]["cause"],
        "client-disconnect"
    );
    assert!(json["groups"][0]["known_cause"]["explanation"]
        .as_str()
        .unwrap()
        .contains("Not a fault of the mesh"));
    let table = render_table(&d);
    assert!(
        table.contains("(client-disconnect)")
            && table.contains("→ client-disconnect, not a fault of the mesh")
            && table.contains(&format!("  cause: {}", known.explanation)),
        "{table}"
    );
}

#[test]
fn answered_lines_and_code_0_without_flags_form_no_group() {
    let d = diagnose(log(0, "-", "-", 3).as_bytes(), Vec::new());
    assert!(d.groups.is_empty(), "{:#?}", d.groups);
    assert!(render_table(&d).contains("No 5xx responses, and no line with a response flag"));
}

/// A scenario whose signature needs the details wins over the known cause for its lines,
/// and leaves the others to it; `0 NR filter_chain_not_found` (a plaintext call into a
/// STRICT mTLS port) is expressed the same way.
#[test]
fn signatures_that_require_details_tell_causes_the_flags_share() {
    let rules = vec![
        rule(
            "drained",
            serde_json::json!({"direction": "outbound", "codes": [503], "flags": ["UC"], "also": [{
                "direction": "inbound", "codes": [0], "flags": ["DC"],
                "details": ["downstream_local_disconnect(filter_chain_is_being_removed)"],
                "require_details": true
            }]}),
        ),
        rule(
            "no-filter-chain",
            serde_json::json!({"direction": "any", "codes": [0], "flags": ["NR"],
                "details": ["filter_chain_not_found"], "require_details": true}),
        ),
    ];
    let named = |log: String| {
        let d = diagnose(log.as_bytes(), rules.clone());
        let g = &d.groups[0];
        (
            g.scenario.clone(),
            g.known_cause.as_ref().map(|k| k.cause.clone()),
        )
    };
    let drained = "downstream_local_disconnect(filter_chain_is_being_removed)";
    assert_eq!(
        named(log(0, "DC", drained, 2)),
        (Some("drained".into()), None)
    );
    assert_eq!(
        named(log(0, "DC", "downstream_remote_disconnect", 2)),
        (None, Some("client-disconnect".into()))
    );
    assert_eq!(
        named(log(0, "NR", "filter_chain_not_found", 2)),
        (Some("no-filter-chain".into()), None)
    );
    assert_eq!(named(log(0, "NR", "route_not_found", 2)), (None, None));
}
