//! How long a pod's network takes to make and to remove: its sandbox process and namespace,
//! the veth on the bridge, the address and route, and the era's capture rules; then the
//! veth deleted and the sandbox killed. N pods per era, one at a time, in a private
//! namespace of the bench's own. Prints figures only. Needs root, `ip` and
//! `scripts/prereqs.sh iptables`.
//!
//! ```text
//! cargo run --release -p mesh5xx-podnet --example pod_bench -- [N]
//! ```

use std::time::{Duration, Instant};

use mesh5xx_iptables::{render, CaptureConfig, Era};
use mesh5xx_podnet::PodNetwork;

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("N: a number of pods"))
        .unwrap_or(30);
    mesh5xx_process::netns::enter_private().expect("unshare(CLONE_NEWNET): run as root");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let net = PodNetwork::create().await.unwrap_or_else(|e| panic!("{e}"));
        println!("{n} pods per era; mean (min, max) per pod, target <= 100 ms for make + remove");
        for era in Era::ALL {
            let rules = render(&CaptureConfig::injected(era, &[8080]), era).expect("renders");
            let (mut make, mut remove) = (Vec::new(), Vec::new());
            for i in 0..n {
                let started = Instant::now();
                let pod = net
                    .pod(&format!("bench-{i}"), Some(&rules))
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                make.push(started.elapsed());
                let started = Instant::now();
                pod.remove().await.unwrap_or_else(|e| panic!("{e}"));
                remove.push(started.elapsed());
            }
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            let line = |times: &[Duration]| {
                let total: Duration = times.iter().sum();
                format!(
                    "{:.1} ms ({:.1}, {:.1})",
                    ms(total / times.len() as u32),
                    ms(*times.iter().min().unwrap()),
                    ms(*times.iter().max().unwrap())
                )
            };
            let both: Vec<Duration> = make.iter().zip(&remove).map(|(a, b)| *a + *b).collect();
            println!(
                "{era}: make {}, remove {}, both {}",
                line(&make),
                line(&remove),
                line(&both)
            );
        }
    });
}
