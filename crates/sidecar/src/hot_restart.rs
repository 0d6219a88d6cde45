//! Envoy's hot restart, as Istio's pilot-agent used it before 1.5 to drain a terminating pod:
//! a second Envoy process (epoch 1) started on an empty configuration takes over from the
//! running one (epoch 0), which then drains and exits.
//!
//! pilot-agent's `terminate()` (`pkg/envoy/agent.go@1.4.0` L245-252) calls
//! `Restart(DrainConfig{})`, which starts the next epoch (L124-161) on `drainFile`
//! (`pkg/envoy/proxy.go@1.4.0` L142-144: `tools/packaging/common/envoy_bootstrap_drain.json`,
//! whose content is `{}`) with `--restart-epoch N` and the same `--drain-time-s` and
//! `--parent-shutdown-time-s` as every epoch (L101-115); it sleeps
//! `terminationDrainDuration`, then `abortAll()` kills every epoch still running (L262-271,
//! `proxy.go` L189-195).
//!
//! Measured with Envoy 1.40 (`--concurrency 1`, loopback):
//! - Epoch 0 runs with hot restart enabled: `--use-dynamic-base-id` picks a base id no other
//!   Envoy on the machine uses (its domain socket's name is free) and `--base-id-path` writes
//!   it down; epoch 1 needs it as `--base-id`. Epoch 0 creates
//!   `/dev/shm/envoy_shared_memory_{10 × base id}`; epoch 1 attaches to the same file; no
//!   epoch removes it when it exits, so the lab does once every epoch is gone.
//! - Within ~70 ms of epoch 1's start epoch 0 shuts its admin server down ("shutting down
//!   admin due to child startup") and epoch 1, which has no admin (an empty bootstrap has
//!   none), has started: from then on the sidecar has no admin endpoint at all.
//! - Epoch 0 then closes its listeners ("closing and draining listeners"): a new connection
//!   is refused (ECONNREFUSED), the connections it holds are still served and drained by
//!   `--drain-strategy` (gradual: responses start carrying `connection: close` with a
//!   probability growing over `--drain-time-s`: with `--drain-time-s 2` and a request
//!   every 20 ms, the first came with the 46th to 54th answer, ~1 s in, in three runs); a
//!   connection the client keeps open after `connection: close` is closed by epoch 0 ~6 s
//!   later.
//! - `--parent-shutdown-time-s` after epoch 1's start, epoch 1 tells epoch 0 to shut down;
//!   epoch 0 exits with status 0. Epoch 1 runs on, with nothing to serve, until it is stopped.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mesh5xx_process::{ProcessError, Supervised};
use tokio::process::Command;

use crate::admin::{self, Admin};
use crate::envoy::{child_exited, Drain, EnvoyError};

/// How long epoch 1 may take to take over (epoch 0's admin gone).
const TAKEOVER_TIMEOUT: Duration = Duration::from_secs(20);

/// An Envoy started with hot restart enabled, and its drain epoch once started.
pub(crate) struct HotRestart {
    /// The base id epoch 0 chose (`--use-dynamic-base-id`).
    base_id: u32,
    /// Epoch 1, on the empty configuration, once the pod terminates.
    drain_epoch: Option<Supervised>,
}

impl HotRestart {
    /// Epoch 0's arguments: hot restart enabled with a base id of its own, written to
    /// `base_id_path` (read back with [`HotRestart::read_base_id`]). The first call of a
    /// process also removes the shared memory of hot-restart Envoys gone without removing
    /// theirs (killed with their runner): see [`sweep_shared_memory`].
    pub(crate) fn first_epoch_args(base_id_path: &Path) -> Vec<std::ffi::OsString> {
        static SWEEP: std::sync::Once = std::sync::Once::new();
        SWEEP.call_once(|| sweep_shared_memory(Path::new("/dev/shm"), Path::new("/proc")));
        vec![
            "--use-dynamic-base-id".into(),
            "--base-id-path".into(),
            base_id_path.into(),
        ]
    }

    /// The base id epoch 0 wrote to `path`, once it has.
    pub(crate) fn read_base_id(path: &Path) -> Option<Self> {
        let base_id = std::fs::read_to_string(path).ok()?.trim().parse().ok()?;
        Some(Self {
            base_id,
            drain_epoch: None,
        })
    }

    /// Whether the drain epoch was started (the sidecar has no admin since).
    pub(crate) fn restarted(&self) -> bool {
        self.drain_epoch.is_some()
    }

    /// The hot-restart shared memory of the epochs (created by epoch 0, never removed by
    /// Envoy).
    pub(crate) fn shared_memory(&self) -> PathBuf {
        PathBuf::from(format!(
            "/dev/shm/envoy_shared_memory_{}",
            u64::from(self.base_id) * 10
        ))
    }

    /// Start epoch 1 on an empty configuration (`dir/envoy-NAME-drain.json`, `{}`), its
    /// output in `dir/envoy-NAME-epoch1.out`, and wait until it has taken over from epoch 0
    /// (whose admin server at `admin` it shuts down). A second call does nothing
    /// (pilot-agent's `Restart` with the same configuration, agent.go@1.4.0 L132-136).
    pub(crate) async fn start_drain_epoch(
        &mut self,
        envoy: &Path,
        name: &str,
        dir: &Path,
        admin: &Admin,
        drain: Drain,
    ) -> Result<(), EnvoyError> {
        if self.drain_epoch.is_some() {
            return Ok(());
        }
        let config = dir.join(format!("envoy-{name}-drain.json"));
        std::fs::write(&config, "{}\n").map_err(|source| EnvoyError::Write {
            path: config.clone(),
            source,
        })?;
        let log = dir.join(format!("envoy-{name}-epoch1.out"));
        let mut cmd = Command::new(envoy);
        cmd.arg("-c")
            .arg(&config)
            .args(["--concurrency", "1", "--log-level", "warn"])
            .args([
                "--base-id",
                &self.base_id.to_string(),
                "--restart-epoch",
                "1",
            ])
            .args(drain.args());
        // Its domain socket with epoch 0 is an abstract one, local to the pod's namespace.
        crate::envoy::in_pod(&mut cmd, admin.netns.as_ref());
        let child = Supervised::spawn(&format!("envoy {name} epoch 1"), cmd, Some(&log))?;
        let child = self.drain_epoch.insert(child);
        let failed = |reason: String| EnvoyError::HotRestart {
            name: name.to_string(),
            reason,
            log: log.clone(),
        };
        let deadline = Instant::now() + TAKEOVER_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child_exited(child).await {
                return Err(failed(format!("epoch 1 exited with {status}")));
            }
            // Refused: epoch 0 has shut its admin down for epoch 1 (a slow answer is not).
            if let Err(e) = admin::get(admin, "/ready", Duration::from_secs(2)).await {
                if e.kind() == std::io::ErrorKind::ConnectionRefused {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(failed(format!(
                    "epoch 0's admin still answers after {} s",
                    TAKEOVER_TIMEOUT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stop the drain epoch, if started (SIGTERM, SIGKILL after `grace`).
    pub(crate) async fn stop_drain_epoch(&mut self, grace: Duration) -> Result<(), ProcessError> {
        if let Some(child) = &mut self.drain_epoch {
            child.stop(grace).await?;
        }
        Ok(())
    }

    /// Remove the epochs' shared memory; call once no epoch runs or ever will.
    pub(crate) fn remove_shared_memory(&self) {
        let _ = std::fs::remove_file(self.shared_memory());
    }
}

/// Remove every Envoy hot-restart shared memory file in `shm` that no process maps: an
/// Envoy maps its file for as long as it runs, and none removes it when it exits, so an
/// unmapped one belongs to Envoys that are gone (a runner killed with `kill -9` takes its
/// Envoys with it, and nobody is left to remove their file).
fn sweep_shared_memory(shm: &Path, proc: &Path) {
    let Ok(entries) = std::fs::read_dir(shm) else {
        return;
    };
    let stale: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("envoy_shared_memory_"))
        })
        .collect();
    if stale.is_empty() {
        return;
    }
    let mut mapped = std::collections::HashSet::new();
    for pid in std::fs::read_dir(proc)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
    {
        if let Ok(maps) = std::fs::read_to_string(pid.path().join("maps")) {
            for line in maps.lines() {
                if let Some(at) = line.find(&*shm.to_string_lossy()) {
                    mapped.insert(PathBuf::from(line[at..].trim_end_matches(" (deleted)")));
                }
            }
        }
    }
    for path in stale.iter().filter(|p| !mapped.contains(*p)) {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files no process maps go; a file this process maps stays.
    #[test]
    fn only_unmapped_shared_memory_is_swept() {
        let dir = std::env::temp_dir().join(format!("mesh5xx-shm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let kept = dir.join("envoy_shared_memory_10");
        let gone = dir.join("envoy_shared_memory_20");
        let other = dir.join("not_envoy");
        for p in [&kept, &gone, &other] {
            std::fs::write(p, [0u8; 4096]).unwrap();
        }
        let file = std::fs::File::open(&kept).unwrap();
        // SAFETY: a read-only shared mapping of a file this test owns, unmapped below.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ,
                libc::MAP_SHARED,
                std::os::fd::AsRawFd::as_raw_fd(&file),
                0,
            )
        };
        assert_ne!(map, libc::MAP_FAILED);
        sweep_shared_memory(&dir, Path::new("/proc"));
        // SAFETY: the mapping made above, of that length.
        unsafe { libc::munmap(map, 4096) };
        assert!(kept.exists() && other.exists());
        assert!(!gone.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
