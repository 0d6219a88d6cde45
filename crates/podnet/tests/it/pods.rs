use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use mesh5xx_iptables::{dump, render, CaptureConfig, Era, Family};
use mesh5xx_podnet::{PodNetError, PodNetwork};
use mesh5xx_testkit::{needs_all, POD_NETWORK};

/// Run `f` on a runtime of its own, on a thread in a new private network namespace.
fn in_private_namespace<F: std::future::Future<Output = ()>>(f: impl FnOnce() -> F + Send) {
    std::thread::scope(|s| {
        s.spawn(|| {
            mesh5xx_process::netns::enter_private().expect("unshare(CLONE_NEWNET): run as root");
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(f())
        })
        .join()
        .unwrap()
    })
}

#[test]
fn pods_reach_each_other_by_address_until_one_is_removed_needs_root() {
    if !needs_all(&POD_NETWORK) {
        return;
    }
    in_private_namespace(|| async {
        let net = PodNetwork::create().await.unwrap();
        let a = net.pod("a", None).await.unwrap();
        let b = net.pod("b", None).await.unwrap();
        assert_eq!(a.ip().to_string(), "10.44.0.2");
        assert_eq!(b.ip().to_string(), "10.44.0.3");
        assert_ne!(net.service_ip(), net.service_ip());

        let listener = b
            .netns()
            .run(|| TcpListener::bind("0.0.0.0:8080").unwrap())
            .unwrap();
        let to_b = SocketAddr::from((b.ip(), 8080));
        let connect = |timeout| {
            a.netns()
                .run(move || TcpStream::connect_timeout(&to_b, timeout))
                .unwrap()
        };
        connect(Duration::from_secs(2)).expect("a reaches b across the bridge");
        listener.accept().unwrap();
        // The node reaches a pod, and a pod its gateway's namespace.
        TcpStream::connect_timeout(&to_b, Duration::from_secs(2)).expect("the node reaches b");
        // b's loopback is b's own: not reachable from a.
        let b_local = b
            .netns()
            .run(|| TcpListener::bind("127.0.0.1:0").unwrap())
            .unwrap();
        let local = b_local.local_addr().unwrap();
        assert!(a
            .netns()
            .run(move || TcpStream::connect(local))
            .unwrap()
            .is_err());
        b.connect(local).await.expect("connected into b's loopback");

        b.remove().await.unwrap();
        let err = connect(Duration::from_millis(1500)).unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::TimedOut | ErrorKind::HostUnreachable),
            "a removed pod's address does not answer: {err:?}"
        );
        assert_ne!(err.kind(), ErrorKind::ConnectionRefused);
    });
}

#[test]
fn a_pods_capture_rules_are_the_ones_rendered_for_its_era_needs_root() {
    if !needs_all(&POD_NETWORK) {
        return;
    }
    in_private_namespace(|| async {
        let net = PodNetwork::create().await.unwrap();
        for era in Era::ALL {
            let rules = render(&CaptureConfig::injected(era, &[8080]), era).unwrap();
            let pod = net
                .pod(&format!("p-{}", era.version()), Some(&rules))
                .await
                .unwrap();
            let got = pod.netns().run(|| dump(Family::V4)).unwrap().unwrap();
            assert_eq!(got, rules.expected_dump(Family::V4), "{era}");
            pod.remove().await.unwrap();
        }
        // The node's namespace has none of them.
        let node = dump(Family::V4).unwrap();
        assert!(!node.contains("ISTIO"), "{node}");
    });
}

#[test]
fn the_bridge_is_refused_outside_a_private_namespace_needs_root() {
    if !needs_all(&POD_NETWORK) {
        return;
    }
    let err = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(PodNetwork::create())
        .unwrap_err();
    assert!(matches!(err, PodNetError::NotPrivate { .. }), "{err}");
    assert!(
        err.to_string().contains("private network namespace"),
        "{err}"
    );
}
