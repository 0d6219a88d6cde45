//! One running Envoy: start, readiness, bound addresses, stats, stop.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mesh5xx_process::{ProcessError, Supervised};
use serde_json::Value;
use tokio::process::Command;

use mesh5xx_scenario::{Behaviour, Profile};

use crate::admin;
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
}

/// A running Envoy sidecar.
pub struct Envoy {
    name: String,
    child: Supervised,
    admin: SocketAddr,
    listeners: BTreeMap<String, SocketAddr>,
    config_path: PathBuf,
    /// Its stdout and stderr.
    log: PathBuf,
}

const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How Envoy drains a listener that an update changes or removes: for `time`, pilot-agent's
/// `--drain-time-s` (ProxyConfig `drainDuration`, 45 s by default:
/// `pkg/config/mesh/mesh.go@1.24.0` L44), telling clients at once (`--drain-strategy
/// immediate`, from Istio 1.10) or with a probability growing over the drain (Envoy's
/// gradual default, before). What is still open at its end is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drain {
    pub time: Duration,
    pub immediate: bool,
}

impl Drain {
    /// The drain of `profile`'s pilot-agent with `drainDuration` `time`
    /// (`pkg/envoy/proxy.go@1.4.0` L108-109, `@1.10.0` L89, `@1.24.0` L126-127).
    pub fn of(profile: &Profile, time: Duration) -> Self {
        Self {
            time,
            immediate: profile.has(Behaviour::ImmediateDrainStrategy),
        }
    }

    /// Envoy's arguments: whole seconds (at least 1), and the parent shutdown 15 s later, as
    /// Istio's defaults have it (45 s and 60 s).
    fn args(&self) -> Vec<String> {
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
    /// Only the inbound listeners drain (from 1.5); before, every listener stopped accepting
    /// (a hot restart into an empty configuration, `pkg/envoy/agent.go@1.4.0` L245-251).
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

/// Istio's defaults: a 45 s drain, clients told at once.
impl Default for Drain {
    fn default() -> Self {
        Self {
            time: Duration::from_secs(45),
            immediate: true,
        }
    }
}

impl Envoy {
    /// Write `config` to `dir/envoy-NAME.yaml` and run Envoy on it with one worker,
    /// hot restart disabled (so any number run side by side), the admin port chosen by the
    /// kernel and pilot-agent's `drain`. Returns once `/ready` answers 200 and the listeners
    /// are bound.
    pub async fn start(
        bin: &EnvoyBinary,
        name: &str,
        config: &Value,
        dir: &Path,
        drain: Drain,
    ) -> Result<Self, EnvoyError> {
        let mut envoy = Self::spawn(bin, name, config, dir, drain).await?;
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
        let config_path = dir.join(format!("envoy-{name}.yaml"));
        write_config(&config_path, config)?;
        let admin_path = dir.join(format!("envoy-{name}.admin"));
        let _ = std::fs::remove_file(&admin_path);
        let log = dir.join(format!("envoy-{name}.out"));
        let mut cmd = Command::new(&bin.path);
        cmd.arg("-c")
            .arg(&config_path)
            .args([
                "--concurrency",
                "1",
                "--disable-hot-restart",
                "--log-level",
                "warn",
            ])
            .arg("--admin-address-path")
            .arg(&admin_path)
            .args(drain.args());
        let mut child = Supervised::spawn(&format!("envoy {name}"), cmd, Some(&log))?;
        let deadline = Instant::now() + READY_TIMEOUT;
        let admin = loop {
            if let Ok(text) = std::fs::read_to_string(&admin_path) {
                if let Ok(addr) = text.trim().parse::<SocketAddr>() {
                    break addr;
                }
            }
            if let Ok(Some(status)) = child_exited(&mut child).await {
                return Err(not_ready(name, &log, format!("it exited with {status}")));
            }
            if Instant::now() > deadline {
                return Err(not_ready(name, &log, "no admin address".into()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        Ok(Envoy {
            name: name.to_string(),
            child,
            admin,
            listeners: BTreeMap::new(),
            config_path,
            log,
        })
    }

    /// Wait until `/ready` answers 200 (Envoy initialized: its first configuration applied,
    /// its listeners listening), then read the listeners' bound addresses.
    pub async fn wait_ready(&mut self) -> Result<(), EnvoyError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok((200, _)) = admin::get(self.admin, "/ready", Duration::from_secs(2)).await {
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
        self.listeners = read_listeners(self.admin)
            .await
            .map_err(|reason| self.admin_error(reason))?;
        Ok(())
    }

    /// The sidecar's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The admin address.
    pub fn admin(&self) -> SocketAddr {
        self.admin
    }

    /// The bound address of listener `name` (e.g. `virtualInbound`, `0.0.0.0_80`).
    pub fn listener(&self, name: &str) -> Option<SocketAddr> {
        self.listeners.get(name).copied()
    }

    /// Where its config was written.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// Envoy's `/stats` text.
    pub async fn stats(&self) -> Result<String, EnvoyError> {
        self.admin_ok("GET", "/stats", Duration::from_secs(5)).await
    }

    /// Its listeners' open downstream connections, as pilot-agent counts them for
    /// `EXIT_ON_ZERO_ACTIVE_CONNECTIONS`: the `listener.*.downstream_cx_active` stats, not
    /// per worker, not the admin listener's (`pkg/envoy/agent.go@1.24.0` L43-48, L232-270).
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

    /// Drain its listeners as pilot-agent does when the pod terminates (`drain`): every
    /// listener, which stops accepting at once (Istio before 1.5 hot-restarted Envoy into an
    /// empty configuration), or the inbound ones only, still accepting while they drain when
    /// graceful (`POST /drain_listeners?inboundonly[&graceful]`).
    pub async fn drain_listeners(&self, drain: TerminationDrain) -> Result<(), EnvoyError> {
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
        match admin::request(self.admin, method, path, timeout).await {
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
    /// later does nothing.
    pub async fn terminate(&mut self) -> Result<(), EnvoyError> {
        self.child.stop(Duration::from_secs(5)).await?;
        Ok(())
    }

    fn admin_error(&self, reason: String) -> EnvoyError {
        EnvoyError::Admin {
            name: self.name.clone(),
            reason,
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

async fn child_exited(
    child: &mut Supervised,
) -> Result<Option<std::process::ExitStatus>, ProcessError> {
    match tokio::time::timeout(Duration::from_millis(1), child.wait()).await {
        Ok(status) => status.map(Some),
        Err(_) => Ok(None),
    }
}

async fn read_listeners(admin: SocketAddr) -> Result<BTreeMap<String, SocketAddr>, String> {
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
}
