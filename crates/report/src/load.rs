//! Reading run directories: `summary.json` and the variants' raw files.

use std::path::{Component, Path, PathBuf};

use mesh5xx_results::{Summary, VariantResult, SCHEMA_VERSION};

use crate::ReportError;

/// The file every run directory holds.
pub const SUMMARY_FILE: &str = "summary.json";
/// The latency histogram a variant's sub-directory may hold.
pub const HISTOGRAM_FILE: &str = "latency.hgrm";

/// One run directory and what its `summary.json` says.
#[derive(Debug, Clone)]
pub struct Run {
    /// The run directory.
    pub dir: PathBuf,
    /// Its `summary.json`.
    pub summary: Summary,
}

impl Run {
    /// Read `<dir>/summary.json`. Errors name the file and the problem.
    pub fn load(dir: &Path) -> Result<Run, ReportError> {
        let path = dir.join(SUMMARY_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| ReportError::Read {
            path: path.clone(),
            source,
        })?;
        let summary: Summary = serde_json::from_str(&text).map_err(|e| ReportError::Malformed {
            path: path.clone(),
            problem: e.to_string(),
        })?;
        if summary.schema_version == 0 || summary.schema_version > SCHEMA_VERSION {
            return Err(ReportError::Malformed {
                path,
                problem: format!(
                    "schema version {} (this report reads versions 1 to {SCHEMA_VERSION})",
                    summary.schema_version
                ),
            });
        }
        Ok(Run {
            dir: dir.to_path_buf(),
            summary,
        })
    }

    /// The latency histogram of `variant`, if it exists: its own, or, when its runs have
    /// directories of their own (a repeated variant), the first run's with its round (the
    /// others stay in the run directory; one per variant keeps a report readable).
    ///
    /// A `dir` that leaves the run directory (absolute, or with `..`) is not followed.
    pub fn histograms(
        &self,
        variant: &VariantResult,
    ) -> Result<Vec<(Option<u32>, String)>, ReportError> {
        let dirs: Vec<(Option<u32>, &str)> = if variant.runs.iter().any(|r| r.dir != variant.dir) {
            variant
                .runs
                .iter()
                .take(1)
                .map(|r| (Some(r.round), r.dir.as_str()))
                .collect()
        } else {
            vec![(None, variant.dir.as_str())]
        };
        let mut found = Vec::new();
        for (round, dir) in dirs {
            if let Some(text) = self.histogram(dir)? {
                found.push((round, text));
            }
        }
        Ok(found)
    }

    /// The latency histogram in sub-directory `dir`, if there is one.
    fn histogram(&self, dir: &str) -> Result<Option<String>, ReportError> {
        let sub = Path::new(dir);
        if !sub.components().all(|c| matches!(c, Component::Normal(_))) {
            return Ok(None);
        }
        let path = self.dir.join(sub).join(HISTOGRAM_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ReportError::Read { path, source }),
        }
    }
}
