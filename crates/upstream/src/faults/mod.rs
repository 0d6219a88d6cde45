//! The app's faults: every way the toy server departs from a plain, always healthy HTTP
//! server, one module each.
//!
//! A fault module holds its parameters (serde, field names carrying their unit), their
//! validation, the real server behaviour it models, and its behaviour as a hook the server
//! core calls (per request: answer, delay, close with or after the response, drop; per
//! connection: deadlines; at start: the close path's lag, the listener's outages, how the app
//! stops on SIGTERM). The registry below lists them, one line each; it generates
//! [`AppFault`] (one fault with its parameters), [`FaultKind`] (the names) and the code behind
//! [`AppFaults`], the set of faults of one server, written in scenario files as a map from
//! name to parameters:
//!
//! ```yaml
//! app: {idle-close: {after_ms: 20}, close-lag: {ms: 10}}
//! ```
//!
//! On the command line each fault is one `--fault SPEC` (see [`crate::UpstreamArgs`]).
//! The order of the registry is the order in which a server's hooks are called: when two
//! faults both choose a request's answer, the one listed first wins.

use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeOwned, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::hook::{Build, Hook};

/// What every fault module provides.
pub(crate) trait Fault:
    Clone + fmt::Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// One line: what the fault does and which real server behaviour it models.
    const SUMMARY: &'static str;
    /// Its parameters, as `--list-faults` shows them: the serialized fields, in order.
    const PARAMS: &'static [Param];
    /// Typical parameters, shown by `--list-faults` and used in tests.
    fn example() -> Self;
    /// Check what serde cannot: ranges and consistency.
    fn validate(&self) -> Result<(), Invalid>;
    /// The behaviour, for a server starting now.
    fn hook(&self, build: &mut Build) -> Arc<dyn Hook>;
}

/// The registry: `Type = "name" in module;` for each fault, in hook order.
macro_rules! registry {
    ($($variant:ident = $name:literal in $module:ident;)+) => {
        $(pub mod $module;)+
        $(pub use $module::$variant;)+

        /// One fault of the app with its parameters. As JSON or YAML a one-entry map,
        /// `{NAME: PARAMS}`; a server's faults together are an [`AppFaults`].
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        pub enum AppFault {
            $(
                #[doc = concat!("`", $name, "`: see [`", stringify!($variant), "`].")]
                #[serde(rename = $name)]
                $variant($variant),
            )+
        }

        /// The kinds of fault, in registry order.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum FaultKind {
            $(
                #[doc = concat!("`", $name, "`.")]
                $variant,
            )+
        }

        impl FaultKind {
            /// Every kind, in registry order.
            pub const ALL: &'static [FaultKind] = &[$(FaultKind::$variant),+];

            /// The fault's name in scenario files and on the command line.
            pub fn name(self) -> &'static str {
                match self {
                    $(FaultKind::$variant => $name,)+
                }
            }

            /// One line: what the fault does and which real server behaviour it models.
            pub fn summary(self) -> &'static str {
                match self {
                    $(FaultKind::$variant => <$variant as Fault>::SUMMARY,)+
                }
            }

            /// The fault's parameters.
            pub fn params(self) -> &'static [Param] {
                match self {
                    $(FaultKind::$variant => <$variant as Fault>::PARAMS,)+
                }
            }

            /// The fault with typical parameters.
            pub fn example(self) -> AppFault {
                match self {
                    $(FaultKind::$variant => AppFault::$variant(<$variant as Fault>::example()),)+
                }
            }

            /// The fault of this kind whose parameters are `value` (not validated).
            pub fn with_params(self, value: serde_json::Value) -> Result<AppFault, FaultError> {
                match self {
                    $(FaultKind::$variant => params_from_json(self, value).map(AppFault::$variant),)+
                }
            }

            /// Read this kind's parameters as the next value of `map`.
            fn next_params<'de, A: MapAccess<'de>>(self, map: &mut A) -> Result<AppFault, A::Error> {
                match self {
                    $(FaultKind::$variant => map.next_value().map(AppFault::$variant),)+
                }
            }
        }

        impl AppFault {
            /// Its kind.
            pub fn kind(&self) -> FaultKind {
                match self {
                    $(AppFault::$variant(_) => FaultKind::$variant,)+
                }
            }

            /// Check the parameters; the error names the fault and the field.
            pub fn validate(&self) -> Result<(), FaultError> {
                let checked = match self {
                    $(AppFault::$variant(fault) => fault.validate(),)+
                };
                checked.map_err(|invalid| invalid.of(self.kind()))
            }

            /// The parameters as JSON.
            pub fn params_json(&self) -> serde_json::Value {
                match self {
                    $(AppFault::$variant(fault) => serde_json::to_value(fault),)+
                }
                .expect("fault parameters serialize")
            }

            /// The behaviour, for a server starting now.
            pub(crate) fn hook(&self, build: &mut Build) -> Arc<dyn Hook> {
                match self {
                    $(AppFault::$variant(fault) => fault.hook(build),)+
                }
            }

            /// Write `NAME: PARAMS` into `map`.
            fn serialize_entry<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
                match self {
                    $(AppFault::$variant(fault) => map.serialize_entry($name, fault),)+
                }
            }
        }

        $(
            impl From<$variant> for AppFault {
                fn from(fault: $variant) -> Self {
                    AppFault::$variant(fault)
                }
            }
        )+
    };
}

registry! {
    IdleClose = "idle-close" in idle_close;
    CloseLag = "close-lag" in close_lag;
    Lifetime = "lifetime" in lifetime;
    MaxRequests = "max-requests" in max_requests;
    Delay = "delay" in delay;
    SlowRequests = "slow-requests" in slow_requests;
    StatusWindow = "status-window" in status_window;
    Status = "status" in status;
    Down = "down" in down;
    ShutdownDelay = "shutdown-delay" in shutdown_delay;
    GracefulShutdown = "graceful-shutdown" in graceful_shutdown;
    Http1Only = "http1-only" in http1_only;
    ServerFirst = "server-first" in server_first;
}

pub use down::DownWindow;
pub use max_requests::CloseMode;

impl FaultKind {
    /// The kind named `name`, if there is one.
    pub fn from_name(name: &str) -> Option<FaultKind> {
        Self::ALL.iter().copied().find(|k| k.name() == name)
    }
}

impl AppFault {
    /// The fault's name.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The message for a fault name that is not in the registry.
pub(crate) fn unknown_fault(name: &str) -> String {
    let known: Vec<&str> = FaultKind::ALL.iter().map(|k| k.name()).collect();
    format!(
        "unknown fault `{name}`; the faults are {} (see --list-faults)",
        known.join(", ")
    )
}

/// Deserialize a fault's parameters from JSON, naming the field that fails.
fn params_from_json<T: DeserializeOwned>(
    kind: FaultKind,
    value: serde_json::Value,
) -> Result<T, FaultError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        FaultError {
            fault: kind.name(),
            field: if path == "." { String::new() } else { path },
            message: e.into_inner().to_string(),
        }
    })
}

/// One parameter of a fault, as `--list-faults` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    /// The field name (with its unit).
    pub name: &'static str,
    /// What it holds, e.g. `milliseconds` or `graceful | abrupt | drop`.
    pub kind: &'static str,
    /// Its default, or `None` when it must be given.
    pub default: Option<&'static str>,
    /// What it does.
    pub doc: &'static str,
}

/// A parameter value a fault module does not accept: the field and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    field: String,
    message: String,
}

impl Invalid {
    /// `field` (a path like `windows[1].for_ms`, empty for the whole fault) is wrong: `message`.
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same problem, in the fault `kind`.
    fn of(self, kind: FaultKind) -> FaultError {
        FaultError {
            fault: kind.name(),
            field: self.field,
            message: self.message,
        }
    }
}

/// Check that `value` of `field` is above 0.
pub(crate) fn positive(field: &str, value: u64) -> Result<(), Invalid> {
    if value == 0 {
        Err(Invalid::new(field, "0 is not a positive number"))
    } else {
        Ok(())
    }
}

/// A fault's parameters are wrong. Shown as `FAULT.FIELD: MESSAGE`, e.g.
/// `max-requests.count: 0 is not a positive number`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FaultError {
    /// The fault's name.
    pub fault: &'static str,
    /// The field, as a path (`windows[1].for_ms`); empty when the problem is the whole fault.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for FaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.fault, self.message)
        } else {
            write!(f, "{}.{}: {}", self.fault, self.field, self.message)
        }
    }
}

/// The faults of one server: at most one of each kind, kept in registry order.
///
/// (De)serializes as a map from fault name to parameters:
/// `{"idle-close": {"after_ms": 20}, "close-lag": {"ms": 10}}`. An unknown name is rejected
/// with the list of known ones; values are checked by [`AppFaults::validate`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppFaults {
    faults: Vec<AppFault>,
}

impl AppFaults {
    /// No faults: a plain server.
    pub fn new() -> Self {
        Self::default()
    }

    /// These faults and `fault` (replacing one of the same kind).
    #[must_use]
    pub fn with(mut self, fault: impl Into<AppFault>) -> Self {
        self.insert(fault);
        self
    }

    /// Add `fault`; returns the fault of the same kind it replaces.
    pub fn insert(&mut self, fault: impl Into<AppFault>) -> Option<AppFault> {
        let fault = fault.into();
        match self
            .faults
            .binary_search_by_key(&fault.kind(), AppFault::kind)
        {
            Ok(i) => Some(std::mem::replace(&mut self.faults[i], fault)),
            Err(i) => {
                self.faults.insert(i, fault);
                None
            }
        }
    }

    /// Remove the fault of `kind`, if there is one.
    pub fn remove(&mut self, kind: FaultKind) -> Option<AppFault> {
        let i = self.faults.iter().position(|f| f.kind() == kind)?;
        Some(self.faults.remove(i))
    }

    /// The fault of `kind`, if there is one.
    pub fn get(&self, kind: FaultKind) -> Option<&AppFault> {
        self.faults.iter().find(|f| f.kind() == kind)
    }

    /// Whether there is a fault of `kind`.
    pub fn contains(&self, kind: FaultKind) -> bool {
        self.get(kind).is_some()
    }

    /// The faults, in registry order.
    pub fn iter(&self) -> std::slice::Iter<'_, AppFault> {
        self.faults.iter()
    }

    /// How many faults there are.
    pub fn len(&self) -> usize {
        self.faults.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.faults.is_empty()
    }

    /// Check every fault's parameters; the first error names the fault and the field.
    pub fn validate(&self) -> Result<(), FaultError> {
        self.faults.iter().try_for_each(AppFault::validate)
    }
}

impl FromIterator<AppFault> for AppFaults {
    /// The set of `faults`; of two of the same kind, the later one stays.
    fn from_iter<I: IntoIterator<Item = AppFault>>(faults: I) -> Self {
        let mut set = Self::new();
        set.extend(faults);
        set
    }
}

impl Extend<AppFault> for AppFaults {
    fn extend<I: IntoIterator<Item = AppFault>>(&mut self, faults: I) {
        for fault in faults {
            self.insert(fault);
        }
    }
}

impl IntoIterator for AppFaults {
    type Item = AppFault;
    type IntoIter = std::vec::IntoIter<AppFault>;

    fn into_iter(self) -> Self::IntoIter {
        self.faults.into_iter()
    }
}

impl<'a> IntoIterator for &'a AppFaults {
    type Item = &'a AppFault;
    type IntoIter = std::slice::Iter<'a, AppFault>;

    fn into_iter(self) -> Self::IntoIter {
        self.faults.iter()
    }
}

impl Serialize for AppFaults {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.faults.len()))?;
        for fault in &self.faults {
            fault.serialize_entry(&mut map)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for AppFaults {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FaultsVisitor)
    }
}

struct FaultsVisitor;

impl<'de> Visitor<'de> for FaultsVisitor {
    type Value = AppFaults;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map from fault name to its parameters")
    }

    fn visit_unit<E: de::Error>(self) -> Result<AppFaults, E> {
        Ok(AppFaults::new())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AppFaults, A::Error> {
        let mut faults = AppFaults::new();
        while let Some(name) = map.next_key::<String>()? {
            let kind = FaultKind::from_name(&name)
                .ok_or_else(|| de::Error::custom(unknown_fault(&name)))?;
            if faults.contains(kind) {
                return Err(de::Error::custom(format!("fault `{name}` is given twice")));
            }
            faults.insert(kind.next_params(&mut map)?);
        }
        Ok(faults)
    }
}

/// The text of `mesh5xx upstream --list-faults`: every fault's name, summary, parameters
/// and an example `--fault` spec.
pub fn describe_faults() -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for kind in FaultKind::ALL {
        let _ = writeln!(out, "{}: {}", kind.name(), kind.summary());
        let params = kind.params();
        let name_w = params.iter().map(|p| p.name.len()).max().unwrap_or(0);
        let kind_w = params.iter().map(|p| p.kind.len()).max().unwrap_or(0);
        for p in params {
            let default = match p.default {
                Some(d) => format!("default {d}"),
                None => "required".to_string(),
            };
            let _ = writeln!(
                out,
                "    {:name_w$}  {:kind_w$}  {default}: {}",
                p.name, p.kind, p.doc
            );
        }
        let _ = writeln!(
            out,
            "    e.g. --fault {}\n",
            crate::spec::format(&kind.example())
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_kebab_case() {
        let names: Vec<&str> = FaultKind::ALL.iter().map(|k| k.name()).collect();
        for (i, name) in names.iter().enumerate() {
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{name}"
            );
            assert!(!names[..i].contains(name), "{name} twice");
            assert_eq!(FaultKind::from_name(name), Some(FaultKind::ALL[i]));
        }
        for name in [
            "idle-close",
            "close-lag",
            "lifetime",
            "max-requests",
            "delay",
            "status",
            "down",
            "shutdown-delay",
            "graceful-shutdown",
            "http1-only",
        ] {
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }
    }

    #[test]
    fn every_fault_lists_exactly_its_serialized_fields() {
        for kind in FaultKind::ALL {
            let example = kind.example();
            assert_eq!(example.kind(), *kind);
            example.validate().unwrap();
            let serde_json::Value::Object(fields) = example.params_json() else {
                panic!("{kind}: parameters are not a map");
            };
            let mut serialized: Vec<&str> = fields.keys().map(String::as_str).collect();
            let mut listed: Vec<&str> = kind.params().iter().map(|p| p.name).collect();
            serialized.sort_unstable();
            listed.sort_unstable();
            assert_eq!(serialized, listed, "{kind}");
            assert!(!kind.summary().is_empty());
        }
    }

    #[test]
    fn faults_serialize_as_a_map_from_name_to_parameters() {
        let faults = AppFaults::new()
            .with(CloseLag { ms: 10 })
            .with(IdleClose { after_ms: 20 });
        let json = serde_json::to_string(&faults).unwrap();
        assert_eq!(
            json,
            r#"{"idle-close":{"after_ms":20},"close-lag":{"ms":10}}"#
        );
        let back: AppFaults = serde_json::from_str(&json).unwrap();
        assert_eq!(back, faults);
        let one: AppFault = serde_json::from_str(r#"{"close-lag":{"ms":10}}"#).unwrap();
        assert_eq!(one, AppFault::CloseLag(CloseLag { ms: 10 }));
    }

    #[test]
    fn scenario_yaml_reads_as_faults() {
        let two: AppFaults =
            yaml_serde::from_str("{idle-close: {after_ms: 20}, close-lag: {ms: 10}}").unwrap();
        assert_eq!(
            two,
            AppFaults::new()
                .with(IdleClose { after_ms: 20 })
                .with(CloseLag { ms: 10 })
        );
        let all: AppFaults = yaml_serde::from_str(
            r#"
            idle-close: {after_ms: 20}
            close-lag: {ms: 10}
            lifetime: {after_ms: 200}
            max-requests: {count: 10, mode: drop}
            delay: {ms: 5, jitter_ms: 1}
            slow-requests: {percent: 10, ms: 300}
            status: {codes: {"503": 5.0, "500": 1.0}}
            status-window: {at_ms: 2000, for_ms: 1000, code: 503}
            down: {windows: [{at_ms: 2000, for_ms: 2000}], after_first_request: false}
            shutdown-delay: {ms: 2000}
            graceful-shutdown: {timeout_ms: 30000}
            http1-only: {status: 400}
            server-first: {banner: "220 srv-a ESMTP mesh5xx"}
            "#,
        )
        .unwrap();
        let examples: AppFaults = FaultKind::ALL.iter().map(|k| k.example()).collect();
        assert_eq!(all, examples);
        all.validate().unwrap();
        let yaml = yaml_serde::to_string(&all).unwrap();
        assert_eq!(yaml_serde::from_str::<AppFaults>(&yaml).unwrap(), all);
    }

    #[test]
    fn every_example_round_trips_through_json() {
        let all: AppFaults = FaultKind::ALL.iter().map(|k| k.example()).collect();
        assert_eq!(all.len(), FaultKind::ALL.len());
        let json = serde_json::to_string(&all).unwrap();
        assert_eq!(serde_json::from_str::<AppFaults>(&json).unwrap(), all);
    }

    #[test]
    fn an_unknown_fault_is_rejected_with_the_known_names() {
        let err = serde_json::from_str::<AppFaults>(r#"{"idle-timeout":{"after_ms":20}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown fault `idle-timeout`"), "{err}");
        for kind in FaultKind::ALL {
            assert!(err.contains(kind.name()), "{err}");
        }
    }

    #[test]
    fn unknown_fields_and_duplicates_are_rejected() {
        let err = serde_json::from_str::<AppFaults>(r#"{"idle-close":{"after":20}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `after`"), "{err}");
        let err =
            serde_json::from_str::<AppFaults>(r#"{"close-lag":{"ms":1},"close-lag":{"ms":2}}"#)
                .unwrap_err()
                .to_string();
        assert!(err.contains("`close-lag` is given twice"), "{err}");
    }

    #[test]
    fn the_set_keeps_one_of_each_kind_in_registry_order() {
        let mut faults = AppFaults::new()
            .with(Down::example())
            .with(IdleClose { after_ms: 1 });
        let old = faults.insert(IdleClose { after_ms: 2 });
        assert_eq!(old, Some(AppFault::IdleClose(IdleClose { after_ms: 1 })));
        let kinds: Vec<FaultKind> = faults.iter().map(AppFault::kind).collect();
        assert_eq!(kinds, [FaultKind::IdleClose, FaultKind::Down]);
        assert!(faults.remove(FaultKind::Down).is_some());
        assert!(!faults.contains(FaultKind::Down));
        assert_eq!(faults.len(), 1);
    }

    #[test]
    fn validation_names_the_fault_and_the_field() {
        let faults = AppFaults::new().with(MaxRequests {
            count: 0,
            mode: CloseMode::Drop,
        });
        let err = faults.validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "max-requests.count: 0 is not a positive number"
        );
        assert_eq!((err.fault, err.field.as_str()), ("max-requests", "count"));
    }

    #[test]
    fn json_errors_name_the_fault_and_the_field() {
        let err = FaultKind::Delay
            .with_params(serde_json::json!({"ms": "soon"}))
            .unwrap_err();
        assert_eq!((err.fault, err.field.as_str()), ("delay", "ms"));
        assert!(
            err.to_string().starts_with("delay.ms: invalid type"),
            "{err}"
        );
    }

    #[test]
    fn the_list_shows_every_fault_and_parameter() {
        let text = describe_faults();
        for kind in FaultKind::ALL {
            assert!(text.contains(&format!("{}: ", kind.name())), "{text}");
            for p in kind.params() {
                assert!(text.contains(p.name), "{text}");
            }
        }
        assert!(text.contains("e.g. --fault idle-close:after_ms="), "{text}");
    }
}
