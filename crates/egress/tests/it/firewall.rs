//! The egress firewall end to end: DNS answers open gateways, expiry refuses NEW
//! connections while established ones keep flowing, the ELB schedule retires addresses.

use std::net::SocketAddr;
use std::time::Duration;

use crate::common::{control, echo_once, echo_upstream, egress, refused, resolve_a, until_connect};
use hickory_proto::op::ResponseCode;
use mesh5xx_egress::firewall::AllowEvent;
use mesh5xx_egress::Report;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

const LIMIT: Duration = Duration::from_secs(5);

fn firewall_config(upstream: SocketAddr, timeout_ms: u64, on_expired: &str) -> String {
    format!(
        r#"{{"zones":[{{"name":"external.service.com","addresses":["127.0.0.2"],"ttl_s":1}}],
            "allow":["external.service.com"],"allow_timeout_ms":{timeout_ms},"on_expired":"{on_expired}",
            "gateways":[{{"ip":"127.0.0.2","upstream":"{upstream}"}}]}}"#
    )
}

#[tokio::test]
async fn expiry_refuses_new_connections_but_established_ones_keep_flowing() {
    let egress = egress(&firewall_config(echo_upstream().await, 600, "refuse")).await;
    let ready = egress.ready().clone();
    let gw = ready.gateways[0].addr;
    assert_eq!(gw.port(), ready.gateway_port);

    until_connect(gw, refused, LIMIT).await;
    assert_eq!(
        resolve_a(ready.dns, "external.service.com").await.1.len(),
        1
    );
    let mut established = TcpStream::connect(gw)
        .await
        .expect("open after the DNS answer");
    assert_eq!(
        echo_once(&mut established, "hello\n").await.unwrap(),
        "hello\n"
    );

    let lines = control(ready.control, "LIST").await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(
        lines[0],
        format!(
            r#"127.0.0.2,tcp:{} timeout 1 comment "external.service.com.""#,
            gw.port()
        )
    );

    let waited = until_connect(gw, refused, LIMIT).await;
    assert!(
        waited >= Duration::from_millis(300),
        "refused only after the timeout ({waited:?})"
    );
    assert_eq!(control(ready.control, "LIST").await, ["END"]);
    assert_eq!(
        echo_once(&mut established, "still there\n").await.unwrap(),
        "still there\n"
    );

    resolve_a(ready.dns, "external.service.com").await;
    let mut again = TcpStream::connect(gw)
        .await
        .expect("open again after a fresh answer");
    assert_eq!(echo_once(&mut again, "back\n").await.unwrap(), "back\n");

    let report = egress.shutdown().await;
    assert_eq!((report.allow.added, report.allow.expired), (2, 1));
    let events: Vec<AllowEvent> = report.timeline.unwrap().iter().map(|e| e.event).collect();
    assert_eq!(
        events,
        [AllowEvent::Added, AllowEvent::Expired, AllowEvent::Added]
    );
    let g = &report.gateways[0];
    assert!(
        // A connect racing the expiry is accepted, then reset: counted as refused, not forwarded.
        g.accepted >= 2 && g.accepted == g.forwarded + g.refused && g.cut == 0,
        "{g:?}"
    );
    assert_eq!(
        g.bytes_to_upstream,
        "hello\nstill there\nback\n".len() as u64
    );
    assert_eq!(g.expired_windows.len(), 1);
    assert!(g.expired_windows[0].to_ms.is_some());
    assert_eq!(report.ipset.len(), 1);
}

#[tokio::test]
async fn refreshing_answers_keep_the_gateway_open() {
    let egress = egress(&firewall_config(echo_upstream().await, 500, "refuse")).await;
    let ready = egress.ready().clone();
    for _ in 0..8 {
        resolve_a(ready.dns, "external.service.com").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        TcpStream::connect(ready.gateways[0].addr)
            .await
            .expect("kept open by refreshes");
    }
    let report = egress.shutdown().await;
    assert_eq!(
        (
            report.allow.added,
            report.allow.refreshed,
            report.allow.expired
        ),
        (1, 7, 0)
    );
    assert!(report.gateways[0].expired_windows.is_empty());
}

#[tokio::test]
async fn reset_mode_accepts_then_resets() {
    let egress = egress(&firewall_config(echo_upstream().await, 60_000, "reset")).await;
    let ready = egress.ready().clone();
    let mut s = TcpStream::connect(ready.gateways[0].addr)
        .await
        .expect("accepted");
    let mut buf = [0u8; 1];
    let err = s.read(&mut buf).await.expect_err("reset");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    resolve_a(ready.dns, "external.service.com").await;
    let mut s = TcpStream::connect(ready.gateways[0].addr).await.unwrap();
    assert_eq!(echo_once(&mut s, "ok\n").await.unwrap(), "ok\n");
    let report = egress.shutdown().await;
    assert_eq!(
        (report.gateways[0].accepted, report.gateways[0].refused),
        (2, 1)
    );
}

#[tokio::test]
async fn the_control_port_serves_list_stats_and_quit() {
    let egress = egress(&firewall_config(echo_upstream().await, 60_000, "refuse")).await;
    let ready = egress.ready().clone();
    resolve_a(ready.dns, "external.service.com").await;
    let stats = control(ready.control, "stats").await;
    let report: Report = serde_json::from_str(&stats[0]).unwrap();
    assert_eq!((report.allow.added, report.timeline.is_none()), (1, true));
    assert_eq!(
        report.ipset[0],
        format!(
            r#"127.0.0.2,tcp:{} timeout 60 comment "external.service.com.""#,
            ready.gateway_port
        )
    );
    let full: Report = serde_json::from_str(&control(ready.control, "REPORT").await[0]).unwrap();
    assert_eq!(full.timeline.unwrap().len(), 1);
    assert_eq!(control(ready.control, "QUIT").await, ["BYE"]);
    assert!(control(ready.control, "HELLO").await[0].starts_with("ERR unknown command"));
}

fn elb_config(upstream: SocketAddr, old_address: &str) -> String {
    format!(
        r#"{{"zones":[{{"name":"external.service.com","addresses":["127.0.0.2"],"ttl_s":1}}],
            "schedule":[{{"at_ms":700,"name":"external.service.com","addresses":["127.0.0.3"]}}],
            "firewall":false,"elb_old_address":"{old_address}",
            "gateways":[{{"ip":"127.0.0.2","upstream":"{upstream}"}},{{"ip":"127.0.0.3","upstream":"{upstream}"}}]}}"#
    )
}

#[tokio::test]
async fn the_elb_schedule_moves_the_answer_and_the_old_address_stops_accepting() {
    let egress = egress(&elb_config(echo_upstream().await, "stop_accepting")).await;
    let ready = egress.ready().clone();
    let (old, new) = (ready.gateways[0].addr, ready.gateways[1].addr);
    assert_eq!(
        resolve_a(ready.dns, "external.service.com").await,
        (
            ResponseCode::NoError,
            vec![old.ip().to_string().parse().unwrap()]
        )
    );
    let mut established = TcpStream::connect(old)
        .await
        .expect("firewall off: open without DNS");

    let waited = until_connect(old, refused, LIMIT).await;
    assert!(
        waited >= Duration::from_millis(400),
        "retired at the scheduled time ({waited:?})"
    );
    let (_, ips) = resolve_a(ready.dns, "external.service.com").await;
    assert_eq!(ips, [std::net::Ipv4Addr::new(127, 0, 0, 3)]);
    assert_eq!(
        echo_once(&mut established, "kept\n").await.unwrap(),
        "kept\n"
    );
    let mut fresh = TcpStream::connect(new).await.unwrap();
    assert_eq!(echo_once(&mut fresh, "new\n").await.unwrap(), "new\n");

    let report = egress.shutdown().await;
    let retired = report.gateways[0].retired_at_ms.expect("retired");
    assert!((700..1500).contains(&retired), "{retired}");
    assert_eq!(report.gateways[1].retired_at_ms, None);
}

#[tokio::test]
async fn cut_connections_resets_the_established_ones() {
    let egress = egress(&elb_config(echo_upstream().await, "cut_connections")).await;
    let old = egress.ready().gateways[0].addr;
    let mut established = TcpStream::connect(old).await.unwrap();
    assert_eq!(
        echo_once(&mut established, "before\n").await.unwrap(),
        "before\n"
    );
    let mut buf = [0u8; 1];
    let got = tokio::time::timeout(LIMIT, established.read(&mut buf))
        .await
        .expect("cut in time");
    assert_eq!(
        got.expect_err("reset").kind(),
        std::io::ErrorKind::ConnectionReset
    );
    until_connect(old, refused, LIMIT).await;
    let report = egress.shutdown().await;
    assert_eq!(report.gateways[0].cut, 1);
}

#[tokio::test]
async fn a_gateway_retires_at_its_own_time() {
    let upstream = echo_upstream().await;
    let json = format!(
        r#"{{"firewall":false,"elb_old_address":"stop_accepting",
            "gateways":[{{"ip":"127.0.0.2","upstream":"{upstream}","retired_at_ms":500}},
                        {{"ip":"127.0.0.3","upstream":"{upstream}"}}]}}"#
    );
    let egress = egress(&json).await;
    let [a, b] = [0, 1].map(|i| egress.ready().gateways[i].addr);
    TcpStream::connect(a)
        .await
        .expect("serving before its time");
    let waited = until_connect(a, refused, LIMIT).await;
    assert!(
        waited >= Duration::from_millis(200),
        "retired at its time ({waited:?})"
    );
    TcpStream::connect(b)
        .await
        .expect("the other gateway keeps serving");
    let report = egress.shutdown().await;
    assert!(report.gateways[0].retired_at_ms.is_some_and(|t| t >= 500));
}

/// A gateway standing for an address it does not listen on, as in a cluster pod: DNS answers
/// `ip`, the allow entry is `(ip, port)`, connections arrive on `listen`. Two gateways share
/// one listening address on distinct ports.
#[tokio::test]
async fn a_gateway_with_its_own_listen_socket_obeys_the_entry_of_the_address_it_stands_for() {
    let upstream = echo_upstream().await;
    let json = format!(
        r#"{{"zones":[{{"name":"external.service.com","addresses":["127.0.0.2"],"ttl_s":1}}],
            "schedule":[{{"at_ms":60000,"name":"external.service.com","addresses":["127.0.0.3"]}}],
            "allow":["external.service.com"],"allow_timeout_ms":600,
            "gateways":[{{"ip":"127.0.0.2","port":80,"listen":"127.0.0.1:0","upstream":"{upstream}"}},
                        {{"ip":"127.0.0.3","port":80,"listen":"127.0.0.1:0","upstream":"{upstream}"}}]}}"#
    );
    let egress = egress(&json).await;
    let ready = egress.ready().clone();
    assert_eq!(ready.gateway_port, 80);
    let (gw, other) = (ready.gateways[0].clone(), ready.gateways[1].clone());
    assert_eq!((gw.ip.to_string(), gw.port), ("127.0.0.2".to_string(), 80));
    assert_eq!(gw.addr.ip().to_string(), "127.0.0.1");
    assert_eq!(other.addr.ip(), gw.addr.ip());
    assert_ne!(gw.addr.port(), other.addr.port(), "distinct listen ports");
    assert_ne!(gw.addr.port(), 0);

    // Closed until DNS answers the address it stands for.
    until_connect(gw.addr, refused, LIMIT).await;
    assert_eq!(
        resolve_a(ready.dns, "external.service.com").await.1,
        [gw.ip]
    );
    let mut s = TcpStream::connect(gw.addr)
        .await
        .expect("open after the answer");
    assert_eq!(echo_once(&mut s, "hi\n").await.unwrap(), "hi\n");
    // The other address was not answered: its gateway stays closed.
    assert!(refused(&TcpStream::connect(other.addr).await));
    // The entry names the address and the port the client uses, not the listen port.
    assert_eq!(
        control(ready.control, "LIST").await,
        [
            r#"127.0.0.2,tcp:80 timeout 1 comment "external.service.com.""#,
            "END"
        ]
    );
    // Expiry closes the listener again; a fresh answer reopens it.
    until_connect(gw.addr, refused, LIMIT).await;
    resolve_a(ready.dns, "external.service.com").await;
    TcpStream::connect(gw.addr)
        .await
        .expect("open again after a fresh answer");

    let report = egress.shutdown().await;
    let g = &report.gateways[0];
    assert_eq!((g.port, g.addr), (80, gw.addr));
    assert!(g.forwarded >= 1 && g.expired_windows.len() == 1, "{g:?}");
    assert!(report
        .timeline
        .unwrap()
        .iter()
        .all(|e| e.ip == gw.ip && e.port == 80));
}

/// `network: cluster` lets a gateway stand for a non-loopback address (here only answered
/// by DNS; the test's traffic stays on loopback).
#[tokio::test]
async fn a_cluster_config_answers_cluster_addresses_and_keys_entries_on_them() {
    let upstream = echo_upstream().await;
    let json = format!(
        r#"{{"network":"cluster",
            "zones":[{{"name":"external.service.com","addresses":["10.96.0.160"],"ttl_s":5}}],
            "allow":["external.service.com"],"allow_timeout_ms":60000,
            "gateways":[{{"ip":"10.96.0.160","port":80,"listen":"127.0.0.1:0","upstream":"{upstream}"}}]}}"#
    );
    let egress = egress(&json).await;
    let ready = egress.ready().clone();
    let listen = ready.gateways[0].addr;
    until_connect(listen, refused, LIMIT).await;
    let (_, ips) = resolve_a(ready.dns, "external.service.com").await;
    assert_eq!(ips, [std::net::Ipv4Addr::new(10, 96, 0, 160)]);
    let mut s = TcpStream::connect(listen).await.expect("open");
    assert_eq!(echo_once(&mut s, "x\n").await.unwrap(), "x\n");
    assert_eq!(
        egress.ipset_lines(),
        [r#"10.96.0.160,tcp:80 timeout 60 comment "external.service.com.""#]
    );
    egress.shutdown().await;
}

/// With `schedule_start: command` the address change and the old address's retirement wait
/// for `START`, however long the process has run, then come at their time from it.
#[tokio::test]
async fn the_schedule_counts_from_the_start_command() {
    let upstream = echo_upstream().await;
    let json = format!(
        r#"{{"schedule_start":"command","firewall":false,"elb_old_address":"stop_accepting",
            "zones":[{{"name":"external.service.com","addresses":["127.0.0.2"],"ttl_s":1}}],
            "schedule":[{{"at_ms":300,"name":"external.service.com","addresses":["127.0.0.3"]}}],
            "gateways":[{{"ip":"127.0.0.2","upstream":"{upstream}"}},{{"ip":"127.0.0.3","upstream":"{upstream}"}}]}}"#
    );
    let egress = egress(&json).await;
    let ready = egress.ready().clone();
    let old = ready.gateways[0].addr;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (_, ips) = resolve_a(ready.dns, "external.service.com").await;
    assert_eq!(
        ips,
        ["127.0.0.2".parse::<std::net::Ipv4Addr>().unwrap()],
        "before START"
    );
    TcpStream::connect(old)
        .await
        .expect("not retired before START");

    assert_eq!(control(ready.control, "START").await, ["OK started"]);
    assert_eq!(
        control(ready.control, "start").await,
        ["OK already started"]
    );
    let (_, ips) = resolve_a(ready.dns, "external.service.com").await;
    assert_eq!(
        ips,
        ["127.0.0.2".parse::<std::net::Ipv4Addr>().unwrap()],
        "at 0 ms"
    );
    until_connect(old, refused, LIMIT).await;
    let (_, ips) = resolve_a(ready.dns, "external.service.com").await;
    assert_eq!(
        ips,
        ["127.0.0.3".parse::<std::net::Ipv4Addr>().unwrap()],
        "after 300 ms"
    );
}
