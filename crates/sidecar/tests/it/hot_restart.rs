//! Istio 1.4's termination drain with the real Envoy: a hot restart into an empty
//! configuration (`Envoy::drain_listeners` of a profile before 1.5), and nothing left behind.

use std::time::Duration;

use mesh5xx_scenario::profile;
use mesh5xx_sidecar::{Drain, Envoy, EnvoyError, TerminationDrain};

use crate::support::{
    app, envoy_bin, eventually, processes_in, proxy_config, refused, shared_memory, KeepAlive,
    LISTENER,
};

/// Istio 1.4's pilot-agent with a `drainDuration` of `secs`.
fn istio_1_4(secs: u64) -> (Drain, TerminationDrain) {
    let p = profile::by_name("istio-1.4").unwrap();
    (
        Drain::of(&p, Duration::from_secs(secs)),
        TerminationDrain::of(&p),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_restart_refuses_new_connections_serves_open_ones_and_leaves_nothing() {
    let scratch = mesh5xx_testkit::scratch("hot-restart");
    let dir = scratch.path();
    let (drain, termination) = istio_1_4(2);
    assert!(drain.hot_restart && !drain.immediate && !termination.inbound_only);
    let app = app().await;
    let mut envoy = Envoy::start(&envoy_bin(), "pod", &proxy_config(app), dir, drain)
        .await
        .unwrap();
    let listener = envoy.listener(LISTENER).unwrap();
    let (_, shm) = shared_memory(dir, "pod");
    assert!(shm.exists(), "epoch 0 made its shared memory {shm:?}");
    assert_eq!(processes_in(dir).len(), 1, "one Envoy before the drain");

    let mut client = KeepAlive::connect(listener).await.unwrap();
    let first = client.get().await.unwrap();
    assert_eq!((first.status, first.close), (200, false));

    envoy.drain_listeners(termination).await.unwrap();
    assert_eq!(
        processes_in(dir).len(),
        2,
        "epoch 0 and the drain epoch run"
    );
    assert!(
        dir.join("envoy-pod-epoch1.out").exists(),
        "the drain epoch's log is next to epoch 0's"
    );
    // No epoch has an admin endpoint any more; the handle says so at once.
    assert!(refused(envoy.admin()).await, "epoch 0's admin is shut down");
    assert!(matches!(envoy.stats().await, Err(EnvoyError::Admin { .. })));
    assert!(envoy.active_connections().await.is_err());

    // (a) The listener stops accepting: new connections are refused.
    assert!(
        eventually(Duration::from_secs(15), || refused(listener)).await,
        "new connections to {listener} are refused after the hot restart"
    );
    // (b) The open keep-alive connection is still served, and the gradual drain ends it:
    // a response with `connection: close` (by --drain-time-s at the latest), then the close.
    let drained = std::time::Instant::now();
    let mut answers = Vec::new();
    loop {
        let a = client
            .get()
            .await
            .unwrap_or_else(|e| panic!("served while draining after {answers:?}: {e}"));
        answers.push(a);
        assert_eq!(a.status, 200, "{answers:?}");
        if a.close {
            break;
        }
        assert!(answers.len() < 2000, "never told to close: {answers:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "{} answers on the open connection, `connection: close` after {:?}",
        answers.len(),
        drained.elapsed()
    );
    // A client that keeps it open is closed ~6 s later (measured; with the HTTP connection
    // manager's 5 s drain_timeout default and the 1 s delayed close).
    assert!(
        client.closed_by_peer(Duration::from_secs(30)).await,
        "epoch 0 closes the connection after `connection: close`"
    );
    assert!(refused(listener).await, "still refused: {listener}");

    // (c) Stopping kills every epoch and removes the shared memory.
    envoy.stop().await.unwrap();
    assert!(
        eventually(Duration::from_secs(10), || async {
            processes_in(dir).is_empty()
        })
        .await,
        "Envoy processes left: {:?}",
        processes_in(dir)
    );
    assert!(!shm.exists(), "{shm:?} removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_restart_parent_exits_at_parent_shutdown_time() {
    let scratch = mesh5xx_testkit::scratch("hot-restart-parent");
    let dir = scratch.path();
    // --drain-time-s 1 --parent-shutdown-time-s 16.
    let (drain, termination) = istio_1_4(1);
    let app = app().await;
    let mut envoy = Envoy::start(&envoy_bin(), "pod", &proxy_config(app), dir, drain)
        .await
        .unwrap();
    let (_, shm) = shared_memory(dir, "pod");
    let started = std::time::Instant::now();
    envoy.drain_listeners(termination).await.unwrap();
    // A second drain is pilot-agent's Restart with the same configuration: nothing.
    envoy.drain_listeners(termination).await.unwrap();
    assert_eq!(processes_in(dir).len(), 2);
    assert!(
        eventually(Duration::from_secs(60), || async {
            processes_in(dir).len() == 1
        })
        .await,
        "epoch 0 exits once epoch 1 tells it to"
    );
    let after = started.elapsed();
    assert!(
        after >= Duration::from_secs(15),
        "epoch 0 exited after {after:?}, before --parent-shutdown-time-s"
    );
    // Epoch 1 runs on, holding the shared memory, until stopped.
    assert!(shm.exists());
    envoy.stop().await.unwrap();
    assert!(
        eventually(Duration::from_secs(10), || async {
            processes_in(dir).is_empty()
        })
        .await
    );
    assert!(!shm.exists(), "{shm:?} removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_restart_envoys_run_side_by_side() {
    let scratch = mesh5xx_testkit::scratch("hot-restart-pair");
    let dir = scratch.path();
    let (drain, termination) = istio_1_4(2);
    let bin = envoy_bin();
    let app = app().await;
    let mut a = Envoy::start(&bin, "a", &proxy_config(app), dir, drain)
        .await
        .unwrap();
    let mut b = Envoy::start(&bin, "b", &proxy_config(app), dir, drain)
        .await
        .unwrap();
    // And one with hot restart disabled (Istio 1.5 on).
    let c = Envoy::start(&bin, "c", &proxy_config(app), dir, Drain::default())
        .await
        .unwrap();
    let (id_a, shm_a) = shared_memory(dir, "a");
    let (id_b, shm_b) = shared_memory(dir, "b");
    assert_ne!(id_a, id_b, "base ids of their own");
    assert!(shm_a.exists() && shm_b.exists());
    for e in [&a, &b, &c] {
        let answer = KeepAlive::connect(e.listener(LISTENER).unwrap())
            .await
            .unwrap()
            .get()
            .await
            .unwrap();
        assert_eq!(answer.status, 200, "{}", e.name());
    }

    // a's hot restart is a's alone.
    a.drain_listeners(termination).await.unwrap();
    let listener_a = a.listener(LISTENER).unwrap();
    assert!(eventually(Duration::from_secs(15), || refused(listener_a)).await);
    for e in [&b, &c] {
        let answer = KeepAlive::connect(e.listener(LISTENER).unwrap())
            .await
            .unwrap()
            .get()
            .await
            .unwrap();
        assert_eq!(answer.status, 200, "{} still serves", e.name());
        assert!(e.stats().await.is_ok(), "{} keeps its admin", e.name());
    }
    b.drain_listeners(termination).await.unwrap();
    let listener_b = b.listener(LISTENER).unwrap();
    assert!(eventually(Duration::from_secs(15), || refused(listener_b)).await);
    assert!(c.stats().await.is_ok());

    for e in [a, b, c] {
        e.stop().await.unwrap();
    }
    assert!(
        eventually(Duration::from_secs(10), || async {
            processes_in(dir).is_empty()
        })
        .await
    );
    assert!(!shm_a.exists() && !shm_b.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_restart_enabled_envoy_leaves_no_shared_memory_without_a_drain() {
    let scratch = mesh5xx_testkit::scratch("hot-restart-undrained");
    let dir = scratch.path();
    let (drain, _) = istio_1_4(2);
    let bin = envoy_bin();
    let app = app().await;
    // Stopped.
    let mut stopped = Envoy::start(&bin, "stopped", &proxy_config(app), dir, drain)
        .await
        .unwrap();
    let (_, shm_stopped) = shared_memory(dir, "stopped");
    assert!(shm_stopped.exists());
    stopped.terminate().await.unwrap();
    assert!(!shm_stopped.exists(), "{shm_stopped:?} removed");
    // Terminated handles stop again without harm.
    stopped.stop().await.unwrap();
    // Dropped.
    let dropped = Envoy::start(&bin, "dropped", &proxy_config(app), dir, drain)
        .await
        .unwrap();
    let (_, shm_dropped) = shared_memory(dir, "dropped");
    assert!(shm_dropped.exists());
    drop(dropped);
    assert!(!shm_dropped.exists(), "{shm_dropped:?} removed");
    assert!(
        eventually(Duration::from_secs(10), || async {
            processes_in(dir).is_empty()
        })
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn termination_hot_restart_needs_an_envoy_started_for_it() {
    let scratch = mesh5xx_testkit::scratch("hot-restart-disabled");
    let dir = scratch.path();
    let (_, termination) = istio_1_4(2);
    let app = app().await;
    let mut envoy = Envoy::start(
        &envoy_bin(),
        "pod",
        &proxy_config(app),
        dir,
        Drain::default(),
    )
    .await
    .unwrap();
    assert!(!dir.join("envoy-pod.base-id").exists());
    let err = envoy.drain_listeners(termination).await.unwrap_err();
    assert!(matches!(err, EnvoyError::HotRestart { .. }), "{err}");
    // Nothing drained: it still serves and answers on its admin.
    let answer = KeepAlive::connect(envoy.listener(LISTENER).unwrap())
        .await
        .unwrap()
        .get()
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    assert!(envoy.stats().await.is_ok());
    envoy.stop().await.unwrap();
}
