//! Where the lab keeps what it installs on first use (Envoy, the xDS schema).

use std::path::PathBuf;

/// `$XDG_CACHE_HOME/mesh5xx`, else `~/.cache/mesh5xx` (`/tmp/.cache/mesh5xx` without a home).
pub fn cache_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("mesh5xx");
    }
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"))
        .join(".cache")
        .join("mesh5xx")
}
