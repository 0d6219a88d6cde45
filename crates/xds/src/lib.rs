//! An istiod-like control plane: the lab's sidecar configurations served over ADS.
//!
//! - [`resources`]: a sidecar's rendered bootstrap as the xDS resources istiod serves
//!   (EDS clusters, RDS routes), and the ADS bootstrap pilot-agent would write (state of the
//!   world or delta, [`AdsApi`]);
//! - [`schema`]: Envoy's protobuf schema (from PyPI `xds-protos`), to encode them;
//! - [`wire`]: the discovery messages and gRPC framing;
//! - [`mesh`]: what is served, how updates arrive and istiod's debounce;
//! - [`server`]: the ADS streams (subscribe, ACK/NACK, pushes in CDS → EDS → LDS → RDS order),
//!   state of the world;
//! - [`delta`]: incremental ADS streams (what each sidecar has, by resource version);
//! - [`record`]: the timeline of updates, pushes, ACKs and NACKs;
//! - [`process`]: `mesh5xx xds`, the control plane as a process of its own.

pub mod delta;
pub mod mesh;
pub mod process;
pub mod record;
pub mod resources;
pub mod schema;
pub mod server;
pub mod wire;

use std::net::SocketAddr;
use std::sync::Arc;

pub use mesh::{Debounce, Update};
pub use process::{Ready, XdsArgs};
pub use record::{Entry, Event, Recorder};
pub use resources::{ads_bootstrap, AdsApi, Resources, TypeUrl};
pub use schema::{Schema, SchemaError};

/// A running control plane (in this process).
pub struct ControlPlane {
    addr: SocketAddr,
    updates: tokio::sync::mpsc::UnboundedSender<Update>,
    recorder: Arc<Recorder>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl ControlPlane {
    /// Serve ADS on `listen` (port 0: any free port) with `debounce`, recording to `recorder`.
    pub async fn start(
        listen: SocketAddr,
        schema: Schema,
        debounce: Debounce,
        push_throttle: usize,
        recorder: Arc<Recorder>,
    ) -> std::io::Result<Self> {
        let listener = server::bind(listen).await?;
        let addr = listener.local_addr()?;
        let (mesh, updates) = mesh::start(debounce, recorder.clone());
        let shared = Arc::new(server::Shared {
            schema,
            mesh,
            recorder: recorder.clone(),
            throttle: tokio::sync::Semaphore::new(push_throttle.max(1)),
        });
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(server::serve(listener, shared, stopped));
        Ok(Self {
            addr,
            updates,
            recorder,
            stop,
        })
    }

    /// Where it serves ADS.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Send a change; it is pushed after the debounce.
    pub fn update(&self, u: Update) {
        // The debouncer lives as long as the control plane.
        let _ = self.updates.send(u);
    }

    /// Its record.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// Stop serving: the listener and every stream close (sidecars keep their configuration).
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.stop();
    }
}
