//! Lines in every supported format, written as Envoy prints them.

use mesh5xx_accesslog::{parse_line, Entry, Format, ParseError};

const SEED_UC: &str = r#"[2022-04-18T09:29:59.633Z] "GET /service_a/v2.1/get?ids=123456 HTTP/1.1" 503 UC "-" "-" 0 95 11 - "-" "-" "bc6f9ba3-d8dc-4955-a092-64617d9277c8" "srv-a.xyz" "127.0.0.1:8080" inbound|80|http|srv-a.xyz.svc.cluster.local - 100.64.121.11:8080 100.64.254.9:35174 -"#;
const SEED_UF: &str = r#"[2022-04-18T17:27:02.903Z] "GET /External.WebService/v2/Ids HTTP/1.1" 503 UF "-" "-" 0 91 0 - "-" "Apache-HttpClient/4.5.5 (Java/11)" "c75a750d-9efd-49e7-a419-6ed97298b543" "external.service.com" "55.92.142.17:80" PassthroughCluster - 55.92.142.17:80 100.65.254.14:39140 -"#;
const SEED_UT: &str = r#"[2022-04-18T07:18:17.609Z] "POST /ext_svc/1111000222333/add?currency=GBP&locale=en_GB HTTP/1.1" 504 UT "-" "-" 150 24 15004 - "-" "Jersey/2.27 (HttpUrlConnection 11.0.4)" "7e9a9207-690f-45b1-b574-fc806b117a84" "testservice.prod.com" "10.186.199.78:80" PassthroughCluster - 10.186.199.78:80 100.65.161.7:37302 -"#;

#[test]
fn seed_inbound_uc() {
    let e = parse_line(SEED_UC).unwrap();
    let mut want = Entry::empty(Format::IstioLegacy);
    want.start_time = "2022-04-18T09:29:59.633Z";
    want.method = "GET";
    want.path = "/service_a/v2.1/get?ids=123456";
    want.protocol = "HTTP/1.1";
    want.response_code = 503;
    want.response_flags = "UC";
    want.bytes_sent = 95;
    want.duration_ms = Some(11);
    want.request_id = Some("bc6f9ba3-d8dc-4955-a092-64617d9277c8");
    want.authority = Some("srv-a.xyz");
    want.upstream_host = Some("127.0.0.1:8080");
    want.upstream_cluster = Some("inbound|80|http|srv-a.xyz.svc.cluster.local");
    want.downstream_local_address = Some("100.64.121.11:8080");
    want.downstream_remote_address = Some("100.64.254.9:35174");
    assert_eq!(e, want);
    assert_eq!(e.flags().collect::<Vec<_>>(), ["UC"]);
}

#[test]
fn seed_passthrough_uf() {
    let e = parse_line(SEED_UF).unwrap();
    assert_eq!(e.format, Format::IstioLegacy);
    assert_eq!(e.start_time, "2022-04-18T17:27:02.903Z");
    assert_eq!((e.method, e.path), ("GET", "/External.WebService/v2/Ids"));
    assert_eq!((e.response_code, e.response_flags), (503, "UF"));
    assert_eq!(
        (e.bytes_received, e.bytes_sent, e.duration_ms),
        (0, 91, Some(0))
    );
    assert_eq!(e.upstream_service_time, None);
    assert_eq!(e.user_agent, Some("Apache-HttpClient/4.5.5 (Java/11)"));
    assert_eq!(e.request_id, Some("c75a750d-9efd-49e7-a419-6ed97298b543"));
    assert_eq!(e.authority, Some("external.service.com"));
    assert_eq!(e.upstream_host, Some("55.92.142.17:80"));
    assert_eq!(e.upstream_cluster, Some("PassthroughCluster"));
    assert_eq!(e.upstream_local_address, None);
    assert_eq!(e.downstream_local_address, Some("55.92.142.17:80"));
    assert_eq!(e.downstream_remote_address, Some("100.65.254.14:39140"));
    assert_eq!((e.requested_server_name, e.route_name), (None, None));
}

#[test]
fn seed_passthrough_ut() {
    let e = parse_line(SEED_UT).unwrap();
    assert_eq!(e.format, Format::IstioLegacy);
    assert_eq!(e.method, "POST");
    assert_eq!(
        e.path,
        "/ext_svc/1111000222333/add?currency=GBP&locale=en_GB"
    );
    assert_eq!((e.response_code, e.response_flags), (504, "UT"));
    assert_eq!((e.bytes_received, e.bytes_sent), (150, 24));
    assert_eq!(e.duration_ms, Some(15004));
    assert_eq!(e.user_agent, Some("Jersey/2.27 (HttpUrlConnection 11.0.4)"));
    assert_eq!(e.authority, Some("testservice.prod.com"));
    assert_eq!(e.upstream_host, Some("10.186.199.78:80"));
}

#[test]
fn istio_current_text() {
    let line = r#"[2024-03-01T10:00:00.123Z] "GET /get HTTP/1.1" 503 UF,URX upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_Connection_refused} - "delayed_connect_error:_Connection_refused" 0 91 2 - "-" "curl/8.5.0" "1e0b7a5e-1f0e-4b6a-a1b1-2c3d4e5f6a7b" "srv-b:8080" "10.244.0.7:8080" inbound|8080|| - 10.244.0.7:8080 10.244.0.9:51234 outbound_.8080_._.srv-b.default.svc.cluster.local default"#;
    let e = parse_line(line).unwrap();
    assert_eq!(e.format, Format::IstioCurrent);
    assert_eq!(e.flags().collect::<Vec<_>>(), ["UF", "URX"]);
    assert!(e.has_flag("URX") && !e.has_flag("U"));
    assert_eq!(
        e.response_code_details,
        Some("upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_Connection_refused}")
    );
    assert_eq!(e.connection_termination_details, None);
    assert_eq!(
        e.upstream_transport_failure_reason,
        Some("delayed_connect_error:_Connection_refused")
    );
    assert_eq!(e.upstream_cluster, Some("inbound|8080||"));
    assert_eq!(
        e.requested_server_name,
        Some("outbound_.8080_._.srv-b.default.svc.cluster.local")
    );
    assert_eq!(e.route_name, Some("default"));
}

#[test]
fn istio_json_typed_and_string_values() {
    let line = r#"{"authority":"external.service.com","bytes_received":0,"bytes_sent":91,"connection_termination_details":null,"downstream_local_address":"55.92.142.17:80","downstream_remote_address":"100.65.254.14:39140","duration":0,"method":"GET","path":"/External.WebService/v2/Ids","protocol":"HTTP/1.1","request_id":"c75a750d","requested_server_name":null,"response_code":503,"response_code_details":"upstream_reset_before_response_started{remote_connection_failure}","response_flags":"UF","route_name":"allow_any","start_time":"2022-04-18T17:27:02.903Z","upstream_cluster":"PassthroughCluster","upstream_host":"55.92.142.17:80","upstream_local_address":null,"upstream_service_time":null,"upstream_transport_failure_reason":null,"user_agent":"Apache-HttpClient/4.5.5 (Java/11)","x_forwarded_for":null}"#;
    let e = parse_line(line).unwrap();
    assert_eq!(e.format, Format::IstioJson);
    assert_eq!(
        (e.response_code, e.response_flags, e.bytes_sent),
        (503, "UF", 91)
    );
    assert_eq!(e.duration_ms, Some(0));
    assert_eq!(e.upstream_cluster, Some("PassthroughCluster"));
    assert_eq!(e.route_name, Some("allow_any"));
    assert_eq!(e.user_agent, Some("Apache-HttpClient/4.5.5 (Java/11)"));
    assert_eq!(e.x_forwarded_for, None);

    let quoted = r#"{ "start_time": "2022-04-18T07:18:17.609Z", "response_code": "504", "duration": "15004", "bytes_sent": "24", "upstream_service_time": "-", "response_flags": "UT", "extra": {"a": [1, "}"]} }"#;
    let e = parse_line(quoted).unwrap();
    assert_eq!(
        (e.response_code, e.duration_ms, e.bytes_sent),
        (504, Some(15004), 24)
    );
    assert_eq!((e.method, e.upstream_service_time), ("-", None));
}

#[test]
fn envoy_default() {
    let line = r#"[2024-03-01T10:00:00.000Z] "GET /slow HTTP/1.1" 504 UT 0 24 15001 - "-" "curl/8.5.0" "4403f657-f324-4c60-befd-343a23e9520a" "apisvc.prod.com" "10.186.199.78:80""#;
    let e = parse_line(line).unwrap();
    assert_eq!(e.format, Format::EnvoyDefault);
    assert_eq!((e.response_code, e.duration_ms), (504, Some(15001)));
    assert_eq!(e.upstream_host, Some("10.186.199.78:80"));
    assert_eq!(e.upstream_cluster, None);
}

#[test]
fn kubectl_prefixes_and_line_endings() {
    for prefix in [
        "2022-04-18T09:29:59.633456789Z ",
        "[pod/srv-a-5d8f/istio-proxy] ",
        "2022-04-18T09:29:59.633456789Z stdout F ",
    ] {
        let line = format!("{prefix}{SEED_UC}\r\n");
        let e = parse_line(&line).unwrap();
        assert_eq!(e.response_flags, "UC", "prefix {prefix:?}");
    }
}

#[test]
fn tcp_lines_and_code_zero() {
    let line = r#"[2024-03-01T10:00:00.000Z] "- - -" 0 UF "-" "-" 0 0 10001 - "-" "-" "-" "-" "10.0.0.1:5432" outbound|5432||db.default.svc.cluster.local - 10.96.0.10:5432 10.244.0.9:40000 - -"#;
    let e = parse_line(line).unwrap();
    assert_eq!((e.method, e.path, e.protocol), ("-", "-", "-"));
    assert_eq!(e.response_code, 0);
    assert_eq!(e.flags().count(), 1);
}

#[test]
fn noise_is_rejected() {
    let long_noise = "x".repeat(1000);
    for junk in [
        "",
        "   ",
        "2022-04-18T09:29:59Z info envoy upstream starting",
        "[2022-04-18 09:29:59.633][15][warning][config] gRPC config stream closed",
        r#"[2022-04-18T09:29:59.633Z] "GET / HTTP/1.1" 503"#,
        r#"[2022-04-18T09:29:59.633Z] "GET / HTTP/1.1" 503 uc "-" "-" 0 95 11 - "-" "-" "x" "a" "b" c - d e -"#,
        r#"[2022-04-18T09:29:59.633Z] "GET / HTTP/1.1" 5030 UC 0 95 11 - "-" "-" "x" "a" "b""#,
        r#"{"level":"info","msg":"hello"}"#,
        r#"{"start_time":"2022-04-18T09:29:59.633Z","response_code":503"#,
        &long_noise,
    ] {
        assert!(parse_line(junk).is_err(), "accepted {junk:?}");
    }
    assert_eq!(parse_line(""), Err(ParseError::Empty));
    assert_eq!(parse_line("hello"), Err(ParseError::UnknownFormat));
    assert_eq!(
        parse_line(r#"[2022-04-18T09:29:59.633Z] "GET / HTTP/1.1" 503"#),
        Err(ParseError::Cut {
            before: "response_flags"
        })
    );
}

/// A whole line is read by the fast path; the same line cut anywhere after its flags, or
/// with words added after its last field, still gives its code and flags.
#[test]
fn cut_and_extended_lines_keep_their_code_and_flags() {
    let whole = parse_line(SEED_UC).unwrap();
    assert!(!whole.partial);
    let flags_end = SEED_UC.find(" UC ").unwrap() + 3;
    for end in (flags_end..SEED_UC.len()).filter(|&i| SEED_UC.is_char_boundary(i)) {
        let cut = &SEED_UC[..end];
        let e = parse_line(cut).unwrap_or_else(|err| panic!("{err}: {cut}"));
        assert_eq!((e.response_code, e.response_flags), (503, "UC"), "{cut}");
        assert!(e.partial, "{cut}");
        // Nothing the cut shortened is kept: every field read is the whole line's, or absent.
        for (got, want) in [
            (e.upstream_cluster, whole.upstream_cluster),
            (e.upstream_host, whole.upstream_host),
            (e.authority, whole.authority),
            (e.request_id, whole.request_id),
        ] {
            assert!(got.is_none() || got == want, "{got:?} from {cut}");
        }
        assert!(
            e.duration_ms.is_none() || e.duration_ms == whole.duration_ms,
            "{cut}"
        );
    }
    let extended = format!("{SEED_UC} extra more");
    let e = parse_line(&extended).unwrap();
    assert_eq!(
        (e.response_code, e.response_flags, e.partial),
        (503, "UC", false)
    );
    assert_eq!(e.upstream_cluster, whole.upstream_cluster);
}
