//! The iptables rules Istio's init container (`istio-iptables`) writes into a pod's network
//! namespace, by the Istio era of the lab's profiles: outbound TCP redirected to Envoy's
//! 15001, inbound to 15006 (15001 at 1.2), the proxy's uid/gid 1337 exempt, loopback and
//! excluded ports and ranges left alone, as each era's script or program wrote them.
//!
//! - [`CaptureConfig`]: istio-iptables' inputs; [`CaptureConfig::injected`] the ones the
//!   sidecar injector of an era passes.
//! - [`render`]: the [`Rules`] an [`Era`] writes for them, in its order, readable as
//!   `iptables-restore` input ([`Rules::restore`]), as the era's command lines
//!   ([`Rules::commands`], what Istio's golden files hold) and as the state iptables-save
//!   reads back ([`Rules::expected_dump`]).
//! - [`apply`] and [`dump`]: `iptables-restore --noflush` and `iptables-save` in the calling
//!   thread's network namespace, with the legacy (x_tables) backend every era's image used.
//!
//! This crate does not create namespaces or know about pods; a run mode that gives each pod a
//! namespace calls [`apply`] from a thread inside it.

mod apply;
mod config;
mod era;
mod render;
mod rules;

pub use apply::{apply, dump, Backend};
pub use config::{CaptureConfig, Cidr, DnsCapture, InboundPorts, IpRanges};
pub use era::Era;
pub use render::render;
pub use rules::{normalise, Family, Rules};

use mesh5xx_scenario::IstioVersion;

/// What can go wrong rendering or applying rules.
#[derive(Debug, thiserror::Error)]
pub enum IptablesError {
    /// The version is not one of the lab's profiles, whose istio-iptables was read.
    #[error("Istio {version} has no istio-iptables era here (known: 1.2, 1.4, 1.13, 1.24)")]
    UnknownEra {
        /// The version asked for.
        version: IstioVersion,
    },
    /// The era's istio-iptables had no such input.
    #[error("{field} is not an input of the istio-iptables of {era}")]
    Unsupported {
        /// The [`CaptureConfig`] field.
        field: &'static str,
        /// The era.
        era: Era,
    },
    /// A range that is not `A.B.C.D/BITS`.
    #[error("{value:?} is not an IPv4 range like 10.0.0.0/8")]
    BadCidr {
        /// The text given.
        value: String,
    },
    /// An iptables program is not installed.
    #[error("`{program}` is not installed: run scripts/prereqs.sh iptables")]
    Missing {
        /// The program.
        program: &'static str,
    },
    /// An iptables program ran and failed.
    #[error("`{program}` failed ({status}): {stderr}")]
    Failed {
        /// The program.
        program: &'static str,
        /// Its exit status.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// An iptables program could not be run.
    #[error("`{program}`: {source}")]
    Io {
        /// The program.
        program: &'static str,
        /// Why.
        source: std::io::Error,
    },
}
