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
fn a_pod_cut_off_stops_answering_while_its_processes_run_on_needs_root() {
    if !needs_all(&POD_NETWORK) {
        return;
    }
    in_private_namespace(|| async {
        let net = PodNetwork::create().await.unwrap();
        let a = net.pod("a", None).await.unwrap();
        let mut b = net.pod("b", None).await.unwrap();
        let listener = b
            .netns()
            .run(|| TcpListener::bind("0.0.0.0:8080").unwrap())
            .unwrap();
        let local = listener.local_addr().unwrap();
        let to_b = SocketAddr::from((b.ip(), 8080));
        let connect = |timeout| {
            a.netns()
                .run(move || TcpStream::connect_timeout(&to_b, timeout))
                .unwrap()
        };
        let open = connect(Duration::from_secs(2)).expect("a reaches b");
        let _accepted = listener.accept().unwrap();

        b.disconnect().await.unwrap();
        let err = connect(Duration::from_millis(1500)).unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::TimedOut,
            "no answer, no refusal: {err:?}"
        );
        // A connection made before the cut gets no reset: a request on it waits.
        open.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        std::io::Write::write_all(&mut &open, b"GET / HTTP/1.1\r\n\r\n").unwrap();
        let mut buf = [0u8; 16];
        let read = std::io::Read::read(&mut &open, &mut buf).unwrap_err();
        assert!(
            matches!(read.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            "{read:?}"
        );
        // The pod's own processes still serve on its loopback; cutting again does nothing.
        let inside = SocketAddr::from(([127, 0, 0, 1], local.port()));
        b.connect(inside).await.expect("b's loopback still answers");
        b.disconnect().await.unwrap();
        b.remove().await.unwrap();
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

/// In a pod with its era's rules, an outbound connection from the proxy's user or the
/// proxy's group reaches its destination, and one from any other user is redirected to 15001,
/// where the sidecar listens; the external addresses are the node's.
#[test]
fn the_proxys_user_and_group_are_exempt_from_capture_and_others_are_not_needs_root() {
    if !needs_all(&POD_NETWORK) {
        return;
    }
    in_private_namespace(|| async {
        let net = PodNetwork::create().await.unwrap();
        let (base, _) = mesh5xx_podnet::EXTERNAL;
        let external = std::net::Ipv4Addr::from(u32::from(base) + 2);
        let node = TcpListener::bind((external, 0)).expect("the external range is the node's");
        let dst = node.local_addr().unwrap();
        for era in Era::ALL {
            let rules = render(&CaptureConfig::injected(era, &[8080]), era).unwrap();
            let pod = net
                .pod(&format!("u-{}", era.version()), Some(&rules))
                .await
                .unwrap();
            let sidecar = pod
                .netns()
                .run(|| TcpListener::bind("0.0.0.0:15001").unwrap())
                .unwrap();
            for (uid, gid, exempt) in [(1337, 2000, true), (2000, 1337, true), (2000, 2000, false)]
            {
                let mut cmd = tokio::process::Command::new("bash");
                cmd.args([
                    "-c",
                    &format!("exec 3<>/dev/tcp/{}/{}", dst.ip(), dst.port()),
                ]);
                pod.netns().enter_on_spawn(&mut cmd);
                mesh5xx_process::identity::as_user(&mut cmd, uid, gid);
                let status = cmd.status().await.unwrap();
                assert!(status.success(), "{era}: uid {uid} gid {gid}: {status}");
                let (at_node, at_sidecar) = (accepted(&node), accepted(&sidecar));
                assert_eq!(
                    (at_node, at_sidecar),
                    (exempt, !exempt),
                    "{era}: uid {uid} gid {gid}: (reached the node, captured)"
                );
            }
            pod.remove().await.unwrap();
        }
    });
}

/// Whether `listener` has a connection waiting (taken off its queue).
fn accepted(listener: &TcpListener) -> bool {
    listener.set_nonblocking(true).unwrap();
    let got = listener.accept().is_ok();
    listener.set_nonblocking(false).unwrap();
    got
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
