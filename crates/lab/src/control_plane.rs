//! The variant's control plane: `mesh5xx xds` as a child, told about each sidecar before it
//! starts, so the sidecar bootstraps over ADS as pilot-agent's bootstrap makes it do: state of
//! the world, or delta from the profiles whose pilot-agent defaulted to it
//! ([`Behaviour::DeltaXds`]).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use mesh5xx_process::Supervised;
use mesh5xx_scenario::{Behaviour, Profile};
use mesh5xx_xds::{ads_bootstrap, AdsApi, Resources, Schema, Update, XdsArgs};
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::process::{ChildStdin, Command};

use crate::LabError;

/// The running control plane.
pub struct ControlPlane {
    child: Supervised,
    input: ChildStdin,
    addr: SocketAddr,
    /// How the sidecars' ADS streams speak.
    api: AdsApi,
    /// Its record (`xds.jsonl` in the variant's directory).
    pub record: PathBuf,
}

impl ControlPlane {
    /// Start `mesh5xx xds` on `ip` (any free port) recording to `dir/xds.jsonl`, with
    /// istiod's default debounce, for the sidecars of `profile`.
    pub async fn start(
        exe: &Path,
        dir: &Path,
        profile: &Profile,
        ip: IpAddr,
    ) -> Result<Self, LabError> {
        let schema = Schema::file(None).map_err(|e| LabError::ControlPlane(e.to_string()))?;
        let record = dir.join("xds.jsonl");
        let mut args = XdsArgs::new(record.clone(), schema);
        args.listen = SocketAddr::new(ip, 0);
        let mut cmd = Command::new(exe);
        cmd.arg("xds").args(args.to_argv());
        let (mut child, input) =
            Supervised::spawn_with_input("xds", cmd, Some(&dir.join("xds.out")))?;
        let ready: mesh5xx_xds::Ready = child.wait_ready(Duration::from_secs(15)).await?;
        Ok(Self {
            child,
            input,
            addr: ready.addr,
            api: api(profile),
            record,
        })
    }

    /// Send `update` (one JSON line on its stdin).
    pub async fn send(&mut self, update: &Update) -> Result<(), LabError> {
        let mut line = serde_json::to_vec(update).expect("an update serializes");
        line.push(b'\n');
        self.input
            .write_all(&line)
            .await
            .map_err(|e| LabError::ControlPlane(format!("sending an update: {e}")))
    }

    /// Declare the sidecar whose rendered configuration is `bootstrap` and return the ADS
    /// bootstrap it starts with instead.
    pub async fn adopt(&mut self, bootstrap: &Value) -> Result<Value, LabError> {
        self.declare(bootstrap).await?;
        Ok(self.bootstrap_for(bootstrap))
    }

    /// Tell the control plane the configuration of the sidecar whose rendered configuration
    /// is `bootstrap` (a full push to it, if it is connected and waiting).
    pub async fn declare(&mut self, bootstrap: &Value) -> Result<(), LabError> {
        let node = bootstrap["node"]["id"]
            .as_str()
            .ok_or_else(|| LabError::ControlPlane("a rendered sidecar without a node id".into()))?
            .to_string();
        let resources = Resources::from_bootstrap(bootstrap)
            .map_err(|e| LabError::ControlPlane(e.to_string()))?;
        self.send(&Update::Proxy { node, resources }).await
    }

    /// The ADS bootstrap of the sidecar whose rendered configuration is `bootstrap`: until
    /// the control plane is told its configuration, it connects and waits, as a sidecar
    /// waits for a slow istiod.
    pub fn bootstrap_for(&self, bootstrap: &Value) -> Value {
        ads_bootstrap(bootstrap, self.addr, self.api)
    }

    /// Stop it (after the sidecars: they would keep their configuration anyway).
    pub async fn stop(mut self) -> Result<(), LabError> {
        self.child.stop(Duration::from_secs(5)).await?;
        Ok(())
    }
}

/// The ADS API pilot-agent of `profile` bootstraps Envoy with.
fn api(profile: &Profile) -> AdsApi {
    if profile.has(Behaviour::DeltaXds) {
        AdsApi::DeltaGrpc
    } else {
        AdsApi::Grpc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecars_of_istio_1_22_and_later_bootstrap_with_delta_xds() {
        let at = |minor| {
            api(&Profile::at(
                "test",
                mesh5xx_scenario::IstioVersion::v1(minor),
                "",
            ))
        };
        assert_eq!(at(21), AdsApi::Grpc);
        assert_eq!(at(22), AdsApi::DeltaGrpc);
        let by_name = |n| api(&mesh5xx_scenario::profile::by_name(n).unwrap());
        assert_eq!(by_name("istio-1.13"), AdsApi::Grpc);
        assert_eq!(by_name("istio-1.24"), AdsApi::DeltaGrpc);
    }
}
