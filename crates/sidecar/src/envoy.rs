//! One running Envoy: start, readiness, bound addresses, stats, stop.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mesh5xx_process::netns::NetNs;
use mesh5xx_process::{ProcessError, Supervised};
use serde_json::Value;
use tokio::process::Command;

use mesh5xx_scenario::{Behaviour, Profile};

use crate::admin::{self, Admin};
use crate::hot_restart::HotRestart;
use crate::provision::EnvoyBinary;

/// What can go wrong running Envoy.
#[derive(Debug, thiserror::Error)]
pub enum EnvoyError {
    #[error("writing Envoy config {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error("Envoy {name} did not become ready within {secs} s ({reason}); see {log}")]
    NotReady {
        name: String,
        secs: u64,
        reason: String,
        log: PathBuf,
    },
    #[error("Envoy rejected config {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("Envoy {name} admin: {reason}")]
    Admin { name: String, reason: String },
    /// The hot restart into the empty configuration could not be made (or its epoch failed).
    #[error("Envoy {name} hot restart: {reason}; see {log}")]
    HotRestart {
        name: String,
        reason: String,
        log: PathBuf,
    },
}

/// A running Envoy sidecar: one Envoy process, or, once hot-restarted into the empty
/// configuration ([`Envoy::drain_listeners`] of a profile before Istio 1.5), the draining
/// epoch 0 and epoch 1 (see [`crate::hot_restart`] for what was measured).
pub struct Envoy {
    name: String,
    /// Epoch 0: the Envoy started on `config_path`.
    child: Supervised,
    admin: Admin,
    listeners: BTreeMap<String, SocketAddr>,
    config_path: PathBuf,
    /// Its stdout and stderr.
    log: PathBuf,
    /// The binary, the directory of its files and its drain: what a later epoch needs.
    bin: PathBuf,
    dir: PathBuf,
    drain: Drain,
    /// Set when started with hot restart enabled (`drain.hot_restart`).
    hot_restart: Option<HotRestart>,
}

/// Start `cmd` in the network namespace `pod` (if any), as user [`PROXY_UID`] and group
/// [`PROXY_GID`].
pub(crate) fn in_pod(cmd: &mut Command, pod: Option<&NetNs>) {
    if let Some(ns) = pod {
        ns.enter_on_spawn(cmd);
        mesh5xx_process::identity::as_user(cmd, PROXY_UID, PROXY_GID);
    }
}

/// The user a sidecar runs as in a pod: the injector's `runAsUser: 1337`
/// (`manifests/charts/istio-control/istio-discovery/files/injection-template.yaml@1.24.0`
/// L379-386, `install/kubernetes/helm/istio/files/injection-template.yaml@1.4.0` L298), whose
/// traffic the capture rules leave alone (`-m owner --uid-owner 1337 -j RETURN`, every era:
/// crates/iptables), and which the rules for a sidecar's own loopback traffic match (from
/// 1.10 `-o lo ! -d 127.0.0.1/32 -m owner --uid-owner 1337 -j ISTIO_IN_REDIRECT`).
pub const PROXY_UID: u32 = 1337;

/// The group a sidecar runs as in a pod (`runAsGroup: 1337`, same template L379-386; in 1.4
/// only with SDS, L293-296), which the rules exempt as well (`--gid-owner 1337`).
pub const PROXY_GID: u32 = 1337;

const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How Envoy drains a listener that an update changes or removes, and, before Istio 1.5,
/// every listener when the pod terminates (the hot restart, `hot_restart`): for `time`,
/// pilot-agent's `--drain-time-s` (ProxyConfig `drainDuration`, 45 s by default:
/// `pkg/config/mesh/mesh.go@1.24.0` L44), telling clients at once (`--drain-strategy
/// immediate`, from Istio 1.10) or with a probability growing over the drain (Envoy's
/// gradual default, before). What is still open at its end is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drain {
    pub time: Duration,
    pub immediate: bool,
    /// pilot-agent hot-restarts Envoy into an empty configuration when the pod terminates
    /// (before Istio 1.5: `pkg/envoy/agent.go@1.4.0` L245-252, `pkg/envoy/proxy.go@1.4.0`
    /// L101-115, L142-144), so Envoy runs with hot restart enabled and a base id no other
    /// Envoy on the machine has (`--use-dynamic-base-id`), ready for the second epoch
    /// [`Envoy::drain_listeners`] starts. Otherwise `--disable-hot-restart`.
    pub hot_restart: bool,
}

impl Drain {
    /// The drain of `profile`'s pilot-agent with `drainDuration` `time`
    /// (`pkg/envoy/proxy.go@1.4.0` L108-109, `@1.10.0` L89, `@1.24.0` L126-127); hot restart
    /// where its termination drain is one ([`TerminationDrain::of`]).
    pub fn of(profile: &Profile, time: Duration) -> Self {
        Self {
            time,
            immediate: profile.has(Behaviour::ImmediateDrainStrategy),
            hot_restart: !TerminationDrain::of(profile).inbound_only,
        }
    }

    /// Envoy's arguments, the same for every epoch (`pkg/envoy/proxy.go@1.4.0` L106-109):
    /// whole seconds (at least 1), and the parent shutdown 15 s later, as Istio's defaults
    /// have it (45 s and 60 s).
    pub(crate) fn args(&self) -> Vec<String> {
        let secs = self.time.as_millis().div_ceil(1000).max(1) as u64;
        vec![
            "--drain-time-s".into(),
            secs.to_string(),
            "--drain-strategy".into(),
            if self.immediate {
                "immediate"
            } else {
                "gradual"
            }
            .into(),
            "--parent-shutdown-time-s".into(),
            (secs + 15).to_string(),
        ]
    }
}

/// What pilot-agent asks of Envoy when its pod terminates, by Istio version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TerminationDrain {
    /// Only the inbound listeners drain (from 1.5: `POST /drain_listeners?inboundonly`).
    /// Before, pilot-agent hot-restarted Envoy into an empty configuration
    /// (`pkg/envoy/agent.go@1.4.0` L245-252: `Restart(DrainConfig{})`, sleep
    /// `terminationDrainDuration`, `abortAll()`; the new epoch runs on
    /// `tools/packaging/common/envoy_bootstrap_drain.json@1.4.0`, `{}`,
    /// `pkg/envoy/proxy.go@1.4.0` L142-144): every listener, inbound and outbound, stops
    /// accepting (new connections refused) and drains its open connections, and the
    /// sidecar has no admin endpoint left. An Envoy must be started with
    /// [`Drain::hot_restart`] for that.
    pub inbound_only: bool,
    /// The draining listeners keep accepting (from 1.8).
    pub graceful: bool,
}

impl TerminationDrain {
    /// `profile`'s pilot-agent (`pkg/envoy/admin.go@1.5.0` L40, `@1.8.0` L42).
    pub fn of(profile: &Profile) -> Self {
        Self {
            inbound_only: profile.has(Behaviour::InboundOnlyTerminationDrain),
            graceful: profile.has(Behaviour::GracefulTerminationDrain),
        }
    }
}

/// Istio's defaults: a 45 s drain, clients told at once, no hot restart (from 1.5).
impl Default for Drain {
    fn default() -> Self {
        Self {
            time: Duration::from_secs(45),
            immediate: true,
            hot_restart: false,
        }
    }
}

impl Envoy {
    /// Write `config` to `dir/envoy-NAME.yaml` and run Envoy on it with one worker,
    /// hot restart disabled, or, with `drain.hot_restart`, enabled with a base id of its own
    /// (written to `dir/envoy-NAME.base-id`; either way any number run side by side), the
    /// admin port chosen by the kernel and pilot-agent's `drain`. Returns once `/ready`
    /// answers 200 and the listeners are bound.
    pub async fn start(
        bin: &EnvoyBinary,
        name: &str,
        config: &Value,
        dir: &Path,
        drain: Drain,
    ) -> Result<Self, EnvoyError> {
        Self::start_in(None, bin, name, config, dir, drain).await
    }

    /// Like [`Envoy::start`], in the network namespace `pod` (if any), as user [`PROXY_UID`]
    /// and group [`PROXY_GID`]: a sidecar in a pod whose traffic is captured.
    pub async fn start_in(
        pod: Option<&NetNs>,
        bin: &EnvoyBinary,
        name: &str,
        config: &Value,
        dir: &Path,
        drain: Drain,
    ) -> Result<Self, EnvoyError> {
        let mut envoy = Self::spawn_in(pod, bin, name, config, dir, drain).await?;
        envoy.wait_ready().await?;
        Ok(envoy)
    }

    /// Like [`Envoy::start`], but return as soon as the admin port answers: a sidecar still
    /// waiting for its configuration, with no listener yet. [`Envoy::wait_ready`] waits for
    /// the rest.
    pub async fn spawn(
        bin: &EnvoyBinary,
        name: &str,
        config: &Value,
        dir: &Path,
        drain: Drain,
    ) -> Result<Self, EnvoyError> {
        Self::spawn_in(None, bin, name, config, dir, drain).await
    }

    /// Like [`Envoy::spawn`], in the network namespace `pod` (if any), as user [`PROXY_UID`]
    /// and group [`PROXY_GID`].
    pub async fn spawn_in(
        pod: Option<&NetNs>,
        bin: &EnvoyBinary,
        name: &str,
        config: &Value,
        dir: &Path,
        drain: Drain,
    ) -> Result<Self, EnvoyError> {
        let config_path = dir.join(format!("envoy-{name}.yaml"));
        write_config(&config_path, config)?;
        let admin_path = dir.join(format!("envoy-{name}.admin"));
        let _ = std::fs::remove_file(&admin_path);
        let base_id_path = dir.join(format!("envoy-{name}.base-id"));
        let _ = std::fs::remove_file(&base_id_path);
        let log = dir.join(format!("envoy-{name}.out"));
        let mut cmd = Command::new(&bin.path);
        cmd.arg("-c")
            .arg(&config_path)
            .args(["--concurrency", "1", "--log-level", "warn"]);
        if drain.hot_restart {
            cmd.args(HotRestart::first_epoch_args(&base_id_path));
        } else {
            cmd.arg("--disable-hot-restart");
        }
        cmd.arg("--admin-address-path")
            .arg(&admin_path)
            .args(drain.args());
        in_pod(&mut cmd, pod);
        let mut child = Supervised::spawn(&format!("envoy {name}"), cmd, Some(&log))?;
        let deadline = Instant::now() + READY_TIMEOUT;
        let (admin, hot_restart) = loop {
            let admin = std::fs::read_to_string(&admin_path)
                .ok()
                .and_then(|text| text.trim().parse::<SocketAddr>().ok());
            if let Some(addr) = admin {
                if !drain.hot_restart {
                    break (addr, None);
                }
                // Envoy writes its base id as it starts, long before its admin address.
                if let Some(h) = HotRestart::read_base_id(&base_id_path) {
                    break (addr, Some(h));
                }
            }
            // Given up: its shared memory goes, if it got that far (the child is killed on drop).
            let abandon = || {
                if let Some(h) = HotRestart::read_base_id(&base_id_path) {
                    h.remove_shared_memory();
                }
            };
            if let Ok(Some(status)) = child_exited(&mut child).await {
                abandon();
                return Err(not_ready(name, &log, format!("it exited with {status}")));
            }
            if Instant::now() > deadline {
                abandon();
                return Err(not_ready(
                    name,
                    &log,
                    if admin.is_some() {
                        "no base id".into()
                    } else {
                        "no admin address".into()
                    },
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        Ok(Envoy {
            name: name.to_string(),
            child,
            admin: Admin {
                addr: admin,
                netns: pod.cloned(),
            },
            listeners: BTreeMap::new(),
            config_path,
            log,
            bin: bin.path.clone(),
            dir: dir.to_path_buf(),
            drain,
            hot_restart,
        })
    }

    /// Wait until `/ready` answers 200 (Envoy initialized: its first configuration applied,
    /// its listeners listening), then read the listeners' bound addresses.
    pub async fn wait_ready(&mut self) -> Result<(), EnvoyError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok((200, _)) = admin::get(&self.admin, "/ready", Duration::from_secs(2)).await {
                break;
            }
            if Instant::now() > deadline {
                return Err(not_ready(
                    &self.name,
                    &self.log,
                    "/ready never answered 200".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.listeners = read_listeners(&self.admin)
            .await
            .map_err(|reason| self.admin_error(reason))?;
        Ok(())
    }

    /// The sidecar's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The admin address (nothing answers there after a hot restart into the empty
    /// configuration).
    pub fn admin(&self) -> SocketAddr {
        self.admin.addr
    }

    /// The bound address of listener `name` (e.g. `virtualInbound`, `0.0.0.0_80`).
    pub fn listener(&self, name: &str) -> Option<SocketAddr> {
        self.listeners.get(name).copied()
    }

    /// Where its config was written.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// Envoy's `/stats` text; an [`EnvoyError::Admin`] error at once after a hot restart
    /// into the empty configuration (no epoch has an admin endpoint then).
    pub async fn stats(&self) -> Result<String, EnvoyError> {
        self.admin_ok("GET", "/stats", Duration::from_secs(5)).await
    }

    /// Its listeners' open downstream connections, as pilot-agent counts them for
    /// `EXIT_ON_ZERO_ACTIVE_CONNECTIONS`: the `listener.*.downstream_cx_active` stats, not
    /// per worker, not the admin listener's (`pkg/envoy/agent.go@1.24.0` L43-48, L232-270).
    /// An [`EnvoyError::Admin`] error at once after a hot restart into the empty
    /// configuration: the count needs the admin endpoint, and no epoch has one then (Istio
    /// 1.4's pilot-agent never asked; `EXIT_ON_ZERO_ACTIVE_CONNECTIONS` came in 1.12).
    pub async fn active_connections(&self) -> Result<u64, EnvoyError> {
        let path = "/stats?usedonly&filter=downstream_cx_active$";
        let body = self.admin_ok("GET", path, Duration::from_secs(2)).await?;
        Ok(body
            .lines()
            .filter_map(|l| l.split_once(':'))
            .filter(|(name, _)| {
                name.starts_with("listener.")
                    && !name.contains("worker_")
                    && !name.starts_with("listener.admin.")
            })
            .filter_map(|(_, v)| v.trim().parse::<u64>().ok())
            .sum())
    }

    /// Drain its listeners as pilot-agent does when the pod terminates (`drain`).
    ///
    /// - Not `inbound_only` (Istio before 1.5): a hot restart into an empty configuration.
    ///   Epoch 1 starts on `{}` (`dir/envoy-NAME-drain.json`) with epoch 0's `--base-id`,
    ///   `--restart-epoch 1` and the same drain arguments ([`Drain`]), supervised, its output
    ///   in `dir/envoy-NAME-epoch1.out`; this returns once epoch 0's admin server is gone
    ///   (shut down by epoch 1). Epoch 0 then closes its listeners (new connections are
    ///   refused), drains the connections it holds by the drain strategy over
    ///   `--drain-time-s`, and exits at `--parent-shutdown-time-s`. Epoch 1 serves nothing
    ///   and has no admin: [`Envoy::stats`] and [`Envoy::active_connections`] fail from
    ///   then on; [`Envoy::terminate`] stops both epochs. The Envoy must have been started
    ///   with [`Drain::hot_restart`] (else an [`EnvoyError::HotRestart`] error, and nothing
    ///   drains); a second call does nothing.
    /// - `inbound_only`: the inbound listeners only, still accepting while they drain when
    ///   `graceful` (`POST /drain_listeners?inboundonly[&graceful]`).
    pub async fn drain_listeners(&mut self, drain: TerminationDrain) -> Result<(), EnvoyError> {
        if !drain.inbound_only {
            let Some(hot_restart) = &mut self.hot_restart else {
                return Err(EnvoyError::HotRestart {
                    name: self.name.clone(),
                    reason: "it was started with --disable-hot-restart (its Drain's \
                             hot_restart is false)"
                        .into(),
                    log: self.log.clone(),
                });
            };
            return hot_restart
                .start_drain_epoch(&self.bin, &self.name, &self.dir, &self.admin, self.drain)
                .await;
        }
        let params: Vec<&str> = [
            ("inboundonly", drain.inbound_only),
            ("graceful", drain.graceful),
        ]
        .into_iter()
        .filter_map(|(param, on)| on.then_some(param))
        .collect();
        let path = if params.is_empty() {
            "/drain_listeners".to_string()
        } else {
            format!("/drain_listeners?{}", params.join("&"))
        };
        self.admin_ok("POST", &path, Duration::from_secs(2)).await?;
        Ok(())
    }

    /// `method` `path` on its admin server: the body of a 200 answer, else an error.
    async fn admin_ok(
        &self,
        method: &str,
        path: &str,
        timeout: Duration,
    ) -> Result<String, EnvoyError> {
        if self.hot_restart.as_ref().is_some_and(HotRestart::restarted) {
            return Err(self.admin_error(format!(
                "{method} {path}: no admin since the hot restart into the empty configuration"
            )));
        }
        match admin::request(&self.admin, method, path, timeout).await {
            Ok((200, body)) => Ok(body),
            Ok((code, _)) => Err(self.admin_error(format!("{method} {path} answered {code}"))),
            Err(e) => Err(self.admin_error(e.to_string())),
        }
    }

    /// Stop Envoy (SIGTERM, SIGKILL after 5 s); its access log is flushed on exit.
    pub async fn stop(mut self) -> Result<(), EnvoyError> {
        self.terminate().await
    }

    /// Stop Envoy now but keep the handle (a pod terminating mid-run); stopping it again
    /// later does nothing. After a hot restart every epoch still running is stopped, as
    /// pilot-agent's `abortAll()` does (`pkg/envoy/agent.go@1.4.0` L262-271; it sends
    /// SIGKILL, the lab SIGTERM first so that access logs are flushed); then the hot
    /// restart's shared memory is removed (Envoy leaves it in `/dev/shm`).
    pub async fn terminate(&mut self) -> Result<(), EnvoyError> {
        let grace = Duration::from_secs(5);
        let (first, drain_epoch) = match &mut self.hot_restart {
            Some(h) => tokio::join!(self.child.stop(grace), h.stop_drain_epoch(grace)),
            None => (self.child.stop(grace).await, Ok(())),
        };
        if let Some(h) = &self.hot_restart {
            h.remove_shared_memory();
        }
        first?;
        drain_epoch?;
        Ok(())
    }

    fn admin_error(&self, reason: String) -> EnvoyError {
        EnvoyError::Admin {
            name: self.name.clone(),
            reason,
        }
    }
}

/// A handle dropped without [`Envoy::stop`]: its processes are killed (SIGKILL, on the
/// drop of their `Supervised`), and the hot restart's shared memory, which no epoch needs
/// any more, is removed.
impl Drop for Envoy {
    fn drop(&mut self) {
        if let Some(h) = &self.hot_restart {
            h.remove_shared_memory();
        }
    }
}

/// Check a config with `envoy --mode validate`.
pub async fn validate(bin: &EnvoyBinary, config: &Value, path: &Path) -> Result<(), EnvoyError> {
    write_config(path, config)?;
    let out = Command::new(&bin.path)
        .args([
            "--mode",
            "validate",
            "--disable-hot-restart",
            "--log-level",
            "error",
            "-c",
        ])
        .arg(path)
        .output()
        .await
        .map_err(|e| EnvoyError::Invalid {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(EnvoyError::Invalid {
            path: path.to_path_buf(),
            reason: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
            .trim()
            .to_string(),
        })
    }
}

fn write_config(path: &Path, config: &Value) -> Result<(), EnvoyError> {
    std::fs::write(path, config_text(config)).map_err(|source| EnvoyError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// JSON is YAML: write it pretty-printed so people can read it.
fn config_text(config: &Value) -> String {
    serde_json::to_string_pretty(config).expect("a JSON value serializes")
}

fn not_ready(name: &str, log: &Path, reason: String) -> EnvoyError {
    EnvoyError::NotReady {
        name: name.to_string(),
        secs: READY_TIMEOUT.as_secs(),
        reason,
        log: log.to_path_buf(),
    }
}

/// The child's exit status if it has exited, without waiting.
pub(crate) async fn child_exited(
    child: &mut Supervised,
) -> Result<Option<std::process::ExitStatus>, ProcessError> {
    match tokio::time::timeout(Duration::from_millis(1), child.wait()).await {
        Ok(status) => status.map(Some),
        Err(_) => Ok(None),
    }
}

async fn read_listeners(admin: &Admin) -> Result<BTreeMap<String, SocketAddr>, String> {
    let (code, body) = admin::get(admin, "/listeners?format=json", Duration::from_secs(5))
        .await
        .map_err(|e| e.to_string())?;
    if code != 200 {
        return Err(format!("/listeners answered {code}"));
    }
    let v: Value = serde_json::from_str(&body).map_err(|e| format!("/listeners: {e}"))?;
    let mut out = BTreeMap::new();
    for l in v["listener_statuses"].as_array().into_iter().flatten() {
        let sa = &l["local_address"]["socket_address"];
        if let (Some(name), Some(ip), Some(port)) = (
            l["name"].as_str(),
            sa["address"].as_str(),
            sa["port_value"].as_u64(),
        ) {
            if let Ok(addr) = format!("{ip}:{port}").parse() {
                out.insert(name.to_string(), addr);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drain_args_are_pilot_agents_in_whole_seconds() {
        let d = Drain {
            time: Duration::from_millis(1500),
            immediate: true,
            hot_restart: false,
        };
        assert_eq!(
            d.args(),
            [
                "--drain-time-s",
                "2",
                "--drain-strategy",
                "immediate",
                "--parent-shutdown-time-s",
                "17"
            ]
        );
        let old = Drain::of(
            &mesh5xx_scenario::profile::by_name("istio-1.4").unwrap(),
            Duration::ZERO,
        );
        assert_eq!(
            &old.args()[..4],
            ["--drain-time-s", "1", "--drain-strategy", "gradual"]
        );
        assert_eq!(Drain::default().args()[1], "45");
    }

    #[test]
    fn hot_restart_where_pilot_agent_drains_by_one() {
        for (name, hot_restart) in [("istio-1.4", true), ("istio-1.13", false)] {
            let p = mesh5xx_scenario::profile::by_name(name).unwrap();
            assert_eq!(
                Drain::of(&p, Duration::ZERO).hot_restart,
                hot_restart,
                "{name}"
            );
            assert_eq!(
                TerminationDrain::of(&p).inbound_only,
                !hot_restart,
                "{name}"
            );
        }
        assert!(!Drain::default().hot_restart);
    }
}
