//! Run directories: `results/runs/YYYY-MM-DD-HHMMSS_<scenario>`.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Create a fresh run directory for `scenario` under `parent` (suffix `_2`, `_3`… if taken).
pub fn run_dir(parent: &Path, scenario: &str, now: SystemTime) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(parent)?;
    let base = format!("{}_{scenario}", crate::clock::stamp(now));
    for n in 1..1000 {
        let name = if n == 1 {
            base.clone()
        } else {
            format!("{base}_{n}")
        };
        let dir = parent.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other(format!(
        "no free run directory name for {base} in {}",
        parent.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_stamped() {
        let scratch = mesh5xx_testkit::scratch("rundir");
        let parent = scratch.path();
        let t = SystemTime::UNIX_EPOCH;
        let a = run_dir(parent, "demo", t).unwrap();
        let b = run_dir(parent, "demo", t).unwrap();
        assert!(a.ends_with("1970-01-01-000000_demo"));
        assert!(b.ends_with("1970-01-01-000000_demo_2"));
    }
}
