//! Causes of failed lines that belong to no scenario and are no fault of the mesh (a client
//! that went away). They are data, `known_causes.json`: a name, the explanation shown to
//! the user and a [`Signature`] matched like the catalog's, for the groups no scenario of
//! the catalog fits. A new one is an entry there, not code.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::signature::Signature;

/// A cause that is not a fault of the mesh.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KnownCause {
    /// Its name, e.g. `client-disconnect`.
    pub cause: String,
    /// What happened and where to look, for the user.
    pub explanation: String,
    /// What its lines look like.
    #[serde(skip_serializing)]
    pub signature: Signature,
}

/// The causes of `known_causes.json`.
pub fn known_causes() -> &'static [KnownCause] {
    static CAUSES: OnceLock<Vec<KnownCause>> = OnceLock::new();
    CAUSES.get_or_init(|| {
        serde_json::from_str(include_str!("known_causes.json"))
            .expect("known_causes.json is valid (a test checks it)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_cause_is_valid_and_named_once() {
        let causes = known_causes();
        assert!(!causes.is_empty());
        for (i, c) in causes.iter().enumerate() {
            c.signature
                .validate()
                .unwrap_or_else(|(field, why)| panic!("{}: {field}: {why}", c.cause));
            assert!(!c.explanation.is_empty(), "{}", c.cause);
            assert!(
                causes[..i].iter().all(|o| o.cause != c.cause),
                "{} twice",
                c.cause
            );
        }
    }
}
