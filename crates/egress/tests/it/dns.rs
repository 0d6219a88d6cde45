//! The DNS server against real clients: hickory-resolver, dig, and malformed packets.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use mesh5xx_testkit::{needs, Requirement};

use crate::common::{egress, query, udp_exchange};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::TokioResolver;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ZONES: &str = r#"{"zones":[{"name":"external.service.com","addresses":["127.0.0.2","127.0.0.3"],"ttl_s":30}]}"#;

fn resolver(dns: SocketAddr, protocol: Protocol) -> TokioResolver {
    let mut config = ResolverConfig::new();
    config.add_name_server(NameServerConfig::new(dns, protocol));
    let mut opts = ResolverOpts::default();
    opts.cache_size = 0;
    opts.attempts = 1;
    TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
        .with_options(opts)
        .build()
}

#[tokio::test]
async fn a_resolver_gets_the_right_answers_over_udp_and_tcp() {
    let egress = egress(ZONES).await;
    let dns = egress.ready().dns;
    for protocol in [Protocol::Udp, Protocol::Tcp] {
        let r = resolver(dns, protocol);
        for name in [
            "external.service.com.",
            "EXTERNAL.Service.Com",
            "external.service.com",
        ] {
            let mut ips: Vec<Ipv4Addr> = r
                .ipv4_lookup(name)
                .await
                .unwrap()
                .iter()
                .map(|a| a.0)
                .collect();
            ips.sort();
            assert_eq!(
                ips,
                [Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 3)],
                "{protocol} {name}"
            );
        }
        let aaaa = r.ipv6_lookup("external.service.com.").await.unwrap_err();
        assert!(
            aaaa.is_no_records_found() && !aaaa.is_nx_domain(),
            "{protocol}: AAAA gives NODATA, got {aaaa}"
        );
        let unknown = r.ipv4_lookup("unknown.service.com.").await.unwrap_err();
        assert!(
            unknown.is_nx_domain(),
            "{protocol}: unknown gives NXDOMAIN, got {unknown}"
        );
    }
    let report = egress.shutdown().await;
    assert!(
        report.dns.udp >= 5 && report.dns.tcp >= 5,
        "{:?}",
        report.dns
    );
    assert_eq!(report.dns.by_type["A"], 8);
    assert_eq!(report.dns.by_type["AAAA"], 2);
    assert_eq!(report.dns.by_answer["noerror"], 6);
    assert_eq!(report.dns.by_answer["nodata"], 2);
    assert_eq!(report.dns.by_answer["nxdomain"], 2);
}

#[tokio::test]
async fn other_types_get_nodata_and_the_answer_echoes_the_question() {
    let egress = egress(ZONES).await;
    let reply = udp_exchange(
        egress.ready().dns,
        &query(42, "External.service.com.", RecordType::MX),
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    assert_eq!(
        (reply.id(), reply.response_code(), reply.answers().len()),
        (42, ResponseCode::NoError, 0)
    );
    assert!(reply.authoritative());
    assert_eq!(
        reply.queries()[0].name().to_ascii(),
        "External.service.com."
    );
}

async fn dig(dns: SocketAddr, args: &[&str]) -> String {
    let out = tokio::process::Command::new("dig")
        .arg(format!("@{}", dns.ip()))
        .args(["-p", &dns.port().to_string(), "+time=2", "+tries=1"])
        .args(args)
        .output()
        .await
        .expect("dig runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn dig_gets_the_right_answers_over_udp_and_tcp_needs_dig() {
    if !needs(Requirement::Tool {
        name: "dig",
        package: "dnsutils",
    }) {
        return;
    }
    let egress = egress(ZONES).await;
    let dns = egress.ready().dns;
    for transport in ["+notcp", "+tcp"] {
        let short = dig(dns, &["external.service.com", "A", transport, "+short"]).await;
        let mut lines: Vec<&str> = short.lines().collect();
        lines.sort();
        assert_eq!(lines, ["127.0.0.2", "127.0.0.3"], "{transport}");
        let full = dig(dns, &["external.service.com.", "A", transport]).await;
        assert!(
            full.contains("external.service.com.\t30\tIN\tA\t127.0.0.2"),
            "{full}"
        );
        assert!(full.contains("flags: qr aa rd;"), "{full}");
        let aaaa = dig(dns, &["external.service.com", "AAAA", transport]).await;
        assert!(
            aaaa.contains("status: NOERROR") && aaaa.contains("ANSWER: 0,"),
            "{aaaa}"
        );
        let unknown = dig(dns, &["nope.service.com", "A", transport]).await;
        assert!(unknown.contains("status: NXDOMAIN"), "{unknown}");
    }
}

/// Deterministic pseudo-random bytes.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[tokio::test]
async fn malformed_packets_never_stop_the_server() {
    let egress = egress(ZONES).await;
    let dns = egress.ready().dns;
    let short = Duration::from_millis(200);

    assert!(
        udp_exchange(dns, &[0x12, 0x34, 0x01], short)
            .await
            .is_none(),
        "a truncated header gets no answer"
    );
    let mut garbage_question = vec![0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0];
    garbage_question.extend_from_slice(&[0x3f, 0xff, 0xff, 0x01]);
    let reply = udp_exchange(dns, &garbage_question, short)
        .await
        .expect("FORMERR");
    assert_eq!(
        (reply.id(), reply.response_code()),
        (0xabcd, ResponseCode::FormErr)
    );
    let mut answered = 0;
    for seed in 1..200u64 {
        let mut packet = noise(seed, 12 + (seed as usize * 7) % 300);
        packet[2] &= 0x7f; // a query, so that the header alone deserves a FORMERR
        if let Some(reply) = udp_exchange(dns, &packet, short).await {
            assert_eq!(reply.id(), u16::from_be_bytes([packet[0], packet[1]]));
            answered += 1;
        }
    }
    assert!(
        answered > 100,
        "most random queries get an answer, got {answered}"
    );

    // Over TCP: a garbage message gets FORMERR on the same connection, then a real query works.
    let mut tcp = TcpStream::connect(dns).await.unwrap();
    for packet in [
        garbage_question.clone(),
        query(9, "external.service.com.", RecordType::A),
    ] {
        tcp.write_all(&(packet.len() as u16).to_be_bytes())
            .await
            .unwrap();
        tcp.write_all(&packet).await.unwrap();
        let len = tcp.read_u16().await.unwrap() as usize;
        let mut buf = vec![0u8; len];
        tcp.read_exact(&mut buf).await.unwrap();
        let reply = Message::from_vec(&buf).unwrap();
        let expected = if reply.id() == 9 {
            ResponseCode::NoError
        } else {
            ResponseCode::FormErr
        };
        assert_eq!(reply.response_code(), expected);
    }

    let (code, ips) = crate::common::resolve_a(dns, "external.service.com").await;
    assert_eq!(
        (code, ips.len()),
        (ResponseCode::NoError, 2),
        "still answering"
    );
    let report = egress.shutdown().await;
    assert!(report.dns.by_answer["formerr"] >= 2);
    assert!(report.dns.dropped >= 1);
}
