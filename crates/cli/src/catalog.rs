//! Where the scenario files are.

use std::path::PathBuf;

use mesh5xx_scenario::{Catalog, ScenarioError};

/// `--scenarios DIR`, else `MESH5XX_SCENARIOS`, else `./scenarios`, else the source tree's.
pub fn load(explicit: Option<&PathBuf>) -> Result<Catalog, ScenarioError> {
    let dir = explicit
        .cloned()
        .or_else(|| std::env::var_os("MESH5XX_SCENARIOS").map(PathBuf::from))
        .or_else(|| Some(PathBuf::from("scenarios")).filter(|p| p.is_dir()))
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios")));
    Catalog::load(&dir)
}
