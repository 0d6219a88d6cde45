//! `backend: nftables` end to end, each test in a private network namespace of its own: the
//! kernel set opens on a DNS answer and expires on its own, conntrack keeps established flows,
//! an answer right after an expiry reopens the set before it leaves, an answer for a live entry
//! restarts its countdown, `drop` makes connects time out, the ELB retirement resets flows; the
//! machine's own namespace is refused.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::common::{echo_once, echo_upstream, egress, refused, resolve_a, until_connect};
use mesh5xx_egress::{start, EgressConfig, EgressError};
use mesh5xx_testkit::{needs, Requirement};
use tokio::net::TcpStream;

const LIMIT: Duration = Duration::from_secs(5);

/// Run `test` on a runtime whose threads all live in a new network namespace (which needs
/// root, and `nft` to read the tables back).
fn in_private_namespace<F: Future<Output = ()>>(test: impl FnOnce() -> F + Send + 'static) {
    if !needs(Requirement::Root)
        || !needs(Requirement::Tool {
            name: "nft",
            package: "nftables",
        })
    {
        return;
    }
    std::thread::spawn(move || {
        mesh5xx_process::netns::enter_private().expect("unshare(CLONE_NEWNET): run as root");
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(test());
    })
    .join()
    .expect("the test passed");
}

fn config(upstream: SocketAddr, timeout_ms: u64, on_expired: &str) -> String {
    format!(
        r#"{{"backend":"nftables",
            "zones":[{{"name":"external.service.com","addresses":["127.0.0.2"],"ttl_s":1}}],
            "allow":["external.service.com"],"allow_timeout_ms":{timeout_ms},"on_expired":"{on_expired}",
            "gateways":[{{"ip":"127.0.0.2","upstream":"{upstream}"}}]}}"#
    )
}

async fn nft_tables() -> String {
    let out = tokio::process::Command::new("nft")
        .args(["list", "tables"])
        .output()
        .await
        .expect("nft runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_kernel_set_opens_on_an_answer_expires_on_its_own_and_conntrack_keeps_flows_needs_root() {
    in_private_namespace(|| async {
        let egress = egress(&config(echo_upstream().await, 600, "refuse")).await;
        let ready = egress.ready().clone();
        let gw = ready.gateways[0].addr;
        let table = egress.kernel().expect("a kernel table").name().to_string();
        assert!(nft_tables().await.contains(&table));

        until_connect(gw, refused, LIMIT).await;
        resolve_a(ready.dns, "external.service.com").await;
        // The answer left only once the kernel set had the entry.
        let mut established = TcpStream::connect(gw).await.expect("open after the answer");
        assert_eq!(echo_once(&mut established, "hi\n").await.unwrap(), "hi\n");
        let set = egress.kernel().unwrap().list_allow().await.unwrap();
        assert!(
            set.contains(&format!("127.0.0.2 . {} timeout", gw.port())),
            "{set}"
        );

        let waited = until_connect(gw, refused, LIMIT).await;
        assert!(
            waited >= Duration::from_millis(300),
            "expired after {waited:?}"
        );
        assert_eq!(
            echo_once(&mut established, "still\n").await.unwrap(),
            "still\n",
            "conntrack keeps the established flow"
        );
        resolve_a(ready.dns, "external.service.com").await;
        let mut again = TcpStream::connect(gw).await.expect("open again");
        assert_eq!(echo_once(&mut again, "back\n").await.unwrap(), "back\n");

        let report = egress.shutdown().await;
        let g = &report.gateways[0];
        // Forwarded: the two flows above and the probes while the entry was live.
        assert!(g.forwarded >= 2 && g.accepted == g.forwarded, "{g:?}");
        assert!(g.refused >= 2, "{g:?}");
        assert_eq!(g.expired_windows.len(), 1, "{g:?}");
        assert_eq!((report.allow.added, report.allow.expired), (2, 1));
        assert!(!nft_tables().await.contains(&table), "the table is removed");
    });
}

#[test]
fn an_answer_right_after_the_kernel_expired_the_entry_reopens_it_every_time() {
    const ROUNDS: u64 = 200;
    in_private_namespace(|| async {
        let egress = egress(&config(echo_upstream().await, 80, "refuse")).await;
        let ready = egress.ready().clone();
        let gw = ready.gateways[0].addr;
        for round in 0..ROUNDS {
            // The kernel has expired the element (or never had it): the answer must find the
            // entry expired and leave only once the kernel holds it again.
            until_connect(gw, refused, LIMIT).await;
            resolve_a(ready.dns, "external.service.com").await;
            let mut s = match TcpStream::connect(gw).await {
                Ok(s) => s,
                Err(e) => panic!("round {round}: connect right after the answer: {e}"),
            };
            assert_eq!(
                echo_once(&mut s, "up\n").await.unwrap(),
                "up\n",
                "round {round}"
            );
        }
        let report = egress.shutdown().await;
        let allow = &report.allow;
        assert_eq!(
            (allow.added, allow.refreshed),
            (ROUNDS, 0),
            "every answer after a refusal found its entry expired: {allow:?}"
        );
        assert!(allow.expired >= ROUNDS - 1, "{allow:?}");
        let g = &report.gateways[0];
        assert!(g.forwarded >= ROUNDS && g.refused >= ROUNDS, "{g:?}");
    });
}

#[test]
fn an_answer_for_a_live_entry_restarts_the_kernel_countdown_needs_root() {
    in_private_namespace(|| async {
        let egress = egress(&config(echo_upstream().await, 1000, "refuse")).await;
        let ready = egress.ready().clone();
        let gw = ready.gateways[0].addr;
        resolve_a(ready.dns, "external.service.com").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        resolve_a(ready.dns, "external.service.com").await;
        let refreshed = Instant::now();
        // The first answer's countdown has run out by now, the second's has not.
        tokio::time::sleep(Duration::from_millis(700)).await;
        TcpStream::connect(gw)
            .await
            .expect("open on the restarted countdown");
        until_connect(gw, refused, LIMIT).await;
        let lived = refreshed.elapsed();
        assert!(
            lived >= Duration::from_millis(1000),
            "expired after {lived:?}"
        );
        let allow = egress.shutdown().await.allow;
        assert_eq!((allow.added, allow.refreshed), (1, 1), "{allow:?}");
    });
}

#[test]
fn drop_makes_new_connects_time_out_needs_root() {
    in_private_namespace(|| async {
        let egress = egress(&config(echo_upstream().await, 60_000, "drop")).await;
        let ready = egress.ready().clone();
        let gw = ready.gateways[0].addr;
        let attempt =
            tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(gw)).await;
        assert!(
            attempt.is_err(),
            "a dropped SYN gets no answer: {attempt:?}"
        );
        resolve_a(ready.dns, "external.service.com").await;
        let mut s = TcpStream::connect(gw).await.expect("open after the answer");
        assert_eq!(echo_once(&mut s, "x\n").await.unwrap(), "x\n");
        let g = &egress.shutdown().await.gateways[0];
        assert_eq!(g.forwarded, 1, "{g:?}");
        assert!(g.refused >= 1, "{g:?}");
    });
}

#[test]
fn a_retired_address_cuts_its_flows_and_refuses_new_ones_needs_root() {
    in_private_namespace(|| async {
        let upstream = echo_upstream().await;
        let json = format!(
            r#"{{"backend":"nftables","firewall":false,"elb_old_address":"cut_connections",
                "zones":[{{"name":"external.service.com","addresses":["127.0.0.2"]}}],
                "gateways":[{{"ip":"127.0.0.2","upstream":"{upstream}","retired_at_ms":400}}]}}"#
        );
        let egress = egress(&json).await;
        let gw = egress.ready().gateways[0].addr;
        let mut s = TcpStream::connect(gw).await.expect("no firewall: open");
        assert_eq!(echo_once(&mut s, "a\n").await.unwrap(), "a\n");
        until_connect(gw, refused, LIMIT).await;
        let cut = echo_once(&mut s, "b\n").await;
        assert!(
            matches!(&cut, Err(e) if e.kind() != io::ErrorKind::TimedOut),
            "the established flow is reset: {cut:?}"
        );
        let g = &egress.shutdown().await.gateways[0];
        assert!(g.retired_at_ms.is_some() && g.refused >= 1, "{g:?}");
    });
}

#[tokio::test]
async fn the_machines_own_namespace_is_refused() {
    let json = config(echo_upstream().await, 1000, "refuse");
    let e = match start(EgressConfig::from_json(&json).unwrap()).await {
        Err(e) => e,
        Ok(_) => panic!("started in the machine's namespace"),
    };
    assert!(matches!(e, EgressError::HostNamespace { .. }), "{e}");
    assert!(e.to_string().contains("unshare -n"), "{e}");
}

#[tokio::test]
async fn the_pods_network_is_refused_in_the_machines_namespace() {
    let json = r#"{"network":"pods","dns_listen":"127.0.0.1:0",
        "zones":[{"name":"external.service.com","addresses":["198.18.0.2"]}],
        "gateways":[{"ip":"198.18.0.2","port":80,"upstream":"127.0.0.1:9"}]}"#;
    let e = match start(EgressConfig::from_json(json).unwrap()).await {
        Err(e) => e,
        Ok(_) => panic!("started in the machine's namespace"),
    };
    assert!(
        e.to_string()
            .starts_with("network pods serves addresses in the network namespace"),
        "{e}"
    );
}
