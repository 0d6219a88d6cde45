//! Where the lab keeps what it installs on first use (Envoy, the xDS schema), and how
//! processes that start together install it once.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

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

/// What `find` finds, installing it first (with `install`) if it finds nothing. Processes
/// that start together (parallel tests, labs run side by side) take turns on the lock file
/// `lock` (made if missing): the first installs, the others wait, then find what it
/// installed, instead of installing into the same place at the same time and finding it
/// half made. `find` is asked before the lock too, so what is installed is found at once.
pub fn installed_once<T, E>(
    lock: &Path,
    find: impl Fn() -> Option<T>,
    install: impl FnOnce() -> Result<T, E>,
    lock_error: impl FnOnce(io::Error) -> E,
) -> Result<T, E> {
    if let Some(found) = find() {
        return Ok(found);
    }
    let _held = match take_lock(lock) {
        Ok(file) => file,
        Err(e) => return Err(lock_error(e)),
    };
    match find() {
        Some(found) => Ok(found),
        None => install(),
    }
}

/// `path` opened (made, with its directory, if missing) and locked for this process alone
/// until the file is dropped; waits while another holds it.
fn take_lock(path: &Path) -> io::Result<File> {
    let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(named)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(named)?;
    file.lock().map_err(named)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Threads that all find nothing at first install once between them: the others wait
    /// on the lock (a real `flock` of a real file) and find the whole of what was installed.
    #[test]
    fn processes_starting_together_install_once_and_find_it_whole() {
        let dir =
            std::env::temp_dir().join(format!("mesh5xx-installed-once-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (lock, made) = (dir.join("thing.lock"), dir.join("thing"));
        let installs = AtomicUsize::new(0);
        // Found only when whole: written slowly, in pieces, as an install is.
        let find = || std::fs::read_to_string(&made).ok().filter(|s| s == "whole");
        let results: Vec<Result<String, io::Error>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..6)
                .map(|_| {
                    s.spawn(|| {
                        installed_once(
                            &lock,
                            find,
                            || {
                                installs.fetch_add(1, Ordering::SeqCst);
                                std::fs::write(&made, "who")?;
                                std::thread::sleep(Duration::from_millis(300));
                                std::fs::write(&made, "whole")?;
                                Ok("whole".to_string())
                            },
                            |e| e,
                        )
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for r in &results {
            assert_eq!(r.as_deref().unwrap(), "whole");
        }
        assert_eq!(installs.load(Ordering::SeqCst), 1, "installed once");
        // Found at once when installed: no install, and no lock needed.
        let again = installed_once(
            &lock,
            find,
            || Err(io::Error::other("installed again")),
            |e| e,
        );
        assert_eq!(again.unwrap(), "whole");
        // A lock that cannot be made says which file.
        let bad = installed_once(
            &made.join("below-a-file.lock"),
            || None::<String>,
            || Ok(String::new()),
            |e| e,
        );
        assert!(
            bad.unwrap_err().to_string().contains("below-a-file"),
            "names the path"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
