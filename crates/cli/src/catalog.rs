//! Where the scenario files are.

use std::path::{Path, PathBuf};

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

/// The catalog to find `wanted` in, and the name to look it up by: when `wanted` is the path
/// of a scenario file (`./my-scenario.yaml`), that file alone, checked like the catalog's;
/// else the scenario directory's catalog and `wanted` as the name.
pub fn load_for(
    explicit: Option<&PathBuf>,
    wanted: &str,
) -> Result<(Catalog, String), ScenarioError> {
    let path = Path::new(wanted);
    let is_file = path.extension().is_some_and(|x| x == "yaml" || x == "yml");
    if is_file {
        let catalog = Catalog::single(path)?;
        let name = catalog.scenarios[0].name.clone();
        return Ok((catalog, name));
    }
    Ok((load(explicit)?, wanted.to_string()))
}
