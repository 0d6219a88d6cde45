//! How long a pod's network namespace takes to set up and tear down with its capture rules:
//! a new namespace (a thread's `unshare(CLONE_NEWNET)` and loopback up), the era's rules
//! restored into it, the thread ended (the namespace goes with it), N times. Prints figures
//! only. Needs root and `scripts/prereqs.sh iptables`. The kernel frees a namespace's
//! tables after its last thread is gone, in the background (`cleanup_net`): the figure is the
//! time a pod waits, not the kernel's total work.
//!
//! ```text
//! cargo run --release -p mesh5xx-iptables --example netns_bench -- [N]
//! ```

use std::time::{Duration, Instant};

use mesh5xx_iptables::{apply, render, CaptureConfig, Era};

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("N: a number of namespaces"))
        .unwrap_or(50);
    println!("{n} namespaces per era; mean (min, max) per namespace");
    for era in Era::ALL {
        let rules = render(&CaptureConfig::injected(era, &[8080]), era).expect("renders");
        let mut times = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let rules = rules.clone();
            let started = Instant::now();
            std::thread::spawn(move || {
                mesh5xx_process::netns::enter_private()
                    .expect("unshare(CLONE_NEWNET): run as root");
                apply(&rules).unwrap_or_else(|e| panic!("{e}"));
            })
            .join()
            .expect("the namespace's thread");
            times.push(started.elapsed());
        }
        let total: Duration = times.iter().sum();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{era}: {:.1} ms ({:.1}, {:.1}), {} restore call(s)",
            ms(total / n),
            ms(*times.iter().min().unwrap()),
            ms(*times.iter().max().unwrap()),
            if rules.writes(mesh5xx_iptables::Family::V6) {
                2
            } else {
                1
            }
        );
    }
}
