//! Scenario files, the Istio objects they carry, Istio version profiles and expectations.
//!
//! A scenario is one YAML file in `scenarios/`: what fails, why, the production
//! values it models and the lab values it uses, the topology, and its variants
//! (the baseline and each mitigation), each with expectations. Mitigations are
//! written as genuine Istio objects (`DestinationRule`, `VirtualService`,
//! `ServiceEntry`) or as app-server / app-client settings.

pub mod catalog;
pub mod duration;
pub mod error;
pub mod expect;
pub mod istio;
pub mod model;
pub mod port;
pub mod profile;
pub mod versions;

pub use catalog::Catalog;
pub use error::ScenarioError;
pub use expect::{Expectation, Observed, Verdict};
pub use istio::{IstioObject, IstioObjects};
pub use model::{Direction, LoadSettings, Scenario, Topology, Variant};
pub use port::{PortProtocol, ProxyMetadata, ServicePort};
pub use profile::{LogFormat, Profile};
pub use versions::{Behaviour, IstioVersion, Since};
