//! Which istio-iptables a profile's pods ran: the shell script until 1.4, the Go program
//! after, with rules that changed between the lab's profiles.

use std::fmt;

use mesh5xx_scenario::{IstioVersion, Profile};

use crate::IptablesError;

/// The istio-iptables of one of the lab's profiles (`mesh5xx_scenario::profile::all`), read at
/// the tag named by [`Era::source`].
///
/// The switches between eras are local to this crate rather than rows of the behaviour table
/// (`mesh5xx_scenario::versions`): that table is what istiod renders, each row observed in
/// the Envoy configuration; these are what the init container writes, and the lab's profiles
/// are the only versions read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Era {
    /// `tools/packaging/common/istio-iptables.sh@1.2.10`, run as the proxy_init image's
    /// entrypoint (pilot/docker/Dockerfile.proxy_init@1.2.10).
    Istio1_2,
    /// `tools/packaging/common/istio-iptables.sh@1.4.0`, copied into proxyv2 as
    /// `/usr/local/bin/istio-iptables` (pilot/docker/Dockerfile.proxyv2@1.4.0 L17; the Go port
    /// in tools/istio-iptables went only into the distroless variant, L29).
    Istio1_4,
    /// `tools/istio-iptables/pkg/capture/run.go@1.13.0` (iptables-restore input from
    /// pkg/builder/iptables_builder_impl.go@1.13.0).
    Istio1_13,
    /// `tools/istio-iptables/pkg/capture/run.go@1.24.0` (iptables-restore input from
    /// pkg/builder/iptables_builder_impl.go@1.24.0).
    Istio1_24,
}

impl Era {
    /// Every era, oldest first.
    pub const ALL: [Era; 4] = [Era::Istio1_2, Era::Istio1_4, Era::Istio1_13, Era::Istio1_24];

    /// The era of Istio `version`: only the lab's profile versions have one.
    pub fn of(version: IstioVersion) -> Result<Era, IptablesError> {
        Era::ALL
            .into_iter()
            .find(|e| e.version() == version)
            .ok_or(IptablesError::UnknownEra { version })
    }

    /// The era of `profile`'s Istio version.
    pub fn for_profile(profile: &Profile) -> Result<Era, IptablesError> {
        Era::of(profile.version)
    }

    /// Its Istio release line.
    pub fn version(self) -> IstioVersion {
        IstioVersion::v1(match self {
            Era::Istio1_2 => 2,
            Era::Istio1_4 => 4,
            Era::Istio1_13 => 13,
            Era::Istio1_24 => 24,
        })
    }

    /// The istio/istio file and tag its rules follow.
    pub fn source(self) -> &'static str {
        match self {
            Era::Istio1_2 => "tools/packaging/common/istio-iptables.sh@1.2.10",
            Era::Istio1_4 => "tools/packaging/common/istio-iptables.sh@1.4.0",
            Era::Istio1_13 => "tools/istio-iptables/pkg/capture/run.go@1.13.0",
            Era::Istio1_24 => "tools/istio-iptables/pkg/capture/run.go@1.24.0",
        }
    }

    /// Whether it is the shell script, which issues one iptables command per rule.
    pub fn is_script(self) -> bool {
        matches!(self, Era::Istio1_2 | Era::Istio1_4)
    }
}

impl fmt::Display for Era {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Istio {} ({})", self.version(), self.source())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_of_the_lab_has_an_era_and_other_versions_are_refused() {
        for p in mesh5xx_scenario::profile::all() {
            let era = Era::for_profile(&p).unwrap();
            assert_eq!(era.version(), p.version, "{}", p.name);
        }
        let err = Era::of(IstioVersion::v1(10)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Istio 1.10 has no istio-iptables era here (known: 1.2, 1.4, 1.13, 1.24)"
        );
    }
}
