//! One running Envoy: start, readiness, bound addresses, stats, stop.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mesh5xx_process::{ProcessError, Supervised};
use serde_json::Value;
use tokio::process::Command;

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
}

const READY_TIMEOUT: Duration = Duration::from_secs(20);

impl Envoy {
    /// Write `config` to `dir/envoy-NAME.yaml` and run Envoy on it with one worker,
    /// hot restart disabled (so any number run side by side) and the admin port chosen by
    /// the kernel. Returns once `/ready` answers 200 and the listeners are bound.
    pub async fn start(
        bin: &EnvoyBinary,
        name: &str,
        config: &Value,
        dir: &Path,
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
            .args(["--drain-time-s", "1", "--parent-shutdown-time-s", "2"]);
        let mut child = Supervised::spawn(&format!("envoy {name}"), cmd, Some(&log))?;
        let not_ready = |reason: String| EnvoyError::NotReady {
            name: name.to_string(),
            secs: READY_TIMEOUT.as_secs(),
            reason,
            log: log.clone(),
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        let admin = loop {
            if let Ok(text) = std::fs::read_to_string(&admin_path) {
                if let Ok(addr) = text.trim().parse::<SocketAddr>() {
                    break addr;
                }
            }
            if let Ok(Some(status)) = child_exited(&mut child).await {
                return Err(not_ready(format!("it exited with {status}")));
            }
            if Instant::now() > deadline {
                return Err(not_ready("no admin address".into()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        loop {
            if let Ok((200, _)) = admin::get(admin, "/ready", Duration::from_secs(2)).await {
                break;
            }
            if Instant::now() > deadline {
                return Err(not_ready("/ready never answered 200".into()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let listeners = read_listeners(admin)
            .await
            .map_err(|reason| EnvoyError::Admin {
                name: name.to_string(),
                reason,
            })?;
        Ok(Envoy {
            name: name.to_string(),
            child,
            admin,
            listeners,
            config_path,
        })
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
        match admin::get(self.admin, "/stats", Duration::from_secs(5)).await {
            Ok((200, body)) => Ok(body),
            Ok((code, _)) => Err(self.admin_error(format!("/stats answered {code}"))),
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
