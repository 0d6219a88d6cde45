//! The network's faults, as a scenario writes them: what happens between the app and the
//! external host — DNS answers that change, a firewall whose allow entries expire — one
//! module each. A fault holds its parameters (serde, field names carrying their unit), their
//! validation, and how it shapes the egress process's [`EgressConfig`].
//!
//! The registry below lists them, one line each; it generates [`NetworkFaults`], the faults
//! of one external host, written in scenario files as a map from name to parameters:
//!
//! ```yaml
//! external:
//!   addresses: [127.0.0.2]
//!   faults: {firewall-expiry: {after_ms: 3000}}
//! ```
//!
//! An unknown name is rejected with the list of known ones (`deny_unknown_fields`).

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, EgressConfig};

/// What every network fault module provides.
pub trait NetworkFault {
    /// Its name in scenario files.
    const NAME: &'static str;
    /// One line: what it does and which real network behaviour it models.
    const SUMMARY: &'static str;
    /// Check what serde cannot; the error's field is relative to the fault.
    fn validate(&self) -> Result<(), ConfigError>;
    /// Shape `config`, the egress process serving `host` (whose gateways forward to
    /// `upstream`), as this fault says.
    fn apply(&self, host: &str, upstream: &str, config: &mut EgressConfig);
}

/// The registry: `field: Type = "name" in module;` for each fault.
macro_rules! registry {
    ($($field:ident: $ty:ident = $name:literal in $module:ident;)+) => {
        $(pub mod $module;)+
        $(pub use $module::$ty;)+

        /// The network faults of one external host: at most one of each, as a map from fault
        /// name to parameters.
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct NetworkFaults {
            $(
                #[doc = concat!("`", $name, "`: see [`", stringify!($ty), "`].")]
                #[serde(rename = $name, default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )+
        }

        impl NetworkFaults {
            /// Check every fault's parameters; the error's field is `NAME.FIELD`.
            pub fn validate(&self) -> Result<(), ConfigError> {
                $(
                    if let Some(fault) = &self.$field {
                        fault.validate().map_err(|e| ConfigError {
                            field: format!("{}.{}", $name, e.field),
                            message: e.message,
                        })?;
                    }
                )+
                Ok(())
            }

            /// Shape `config` with every fault, in registry order.
            pub fn apply(&self, host: &str, upstream: &str, config: &mut EgressConfig) {
                $(
                    if let Some(fault) = &self.$field {
                        fault.apply(host, upstream, config);
                    }
                )+
            }

            /// Every fault: `NAME: SUMMARY`, one per line.
            pub fn describe() -> String {
                let mut out = String::new();
                $(out.push_str(&format!("{}: {}\n", $name, <$ty as NetworkFault>::SUMMARY));)+
                out
            }
        }
    };
}

registry! {
    ip_rotation: IpRotation = "ip-rotation" in ip_rotation;
    firewall_expiry: FirewallExpiry = "firewall-expiry" in firewall_expiry;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_read_as_a_map_and_unknown_names_are_refused() {
        let f: NetworkFaults =
            serde_json::from_str(r#"{"firewall-expiry": {"after_ms": 3000}}"#).unwrap();
        assert_eq!(f.firewall_expiry.unwrap().after_ms, 3000);
        assert!(f.ip_rotation.is_none());
        let e = serde_json::from_str::<NetworkFaults>(r#"{"firewall-expiri": {}}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("firewall-expiri")
                && e.contains("firewall-expiry")
                && e.contains("ip-rotation"),
            "{e}"
        );
    }

    #[test]
    fn errors_name_the_fault_and_the_field() {
        let f: NetworkFaults =
            serde_json::from_str(r#"{"firewall-expiry": {"after_ms": 0}}"#).unwrap();
        assert_eq!(f.validate().unwrap_err().field, "firewall-expiry.after_ms");
    }

    #[test]
    fn every_fault_is_described() {
        let d = NetworkFaults::describe();
        assert!(
            d.contains("ip-rotation: ") && d.contains("firewall-expiry: "),
            "{d}"
        );
    }
}
