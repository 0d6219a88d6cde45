//! Test support shared by the crates' integration tests.
//!
//! - [`scratch`]: a temporary directory removed on drop.
//! - [`Child`]: one of the lab's processes (`mesh5xx upstream`, `mesh5xx egress`, …) started
//!   as a real child from its typed arguments; its READY line is read into the process's
//!   typed `Ready`, and it is killed when dropped.
//! - [`needs`]: a test that needs root or a tool says so by its name (`…_needs_root`,
//!   `…_needs_dig`) and calls `needs(…)`: where the requirement is missing it is skipped
//!   with a message, except in CI (`CI` set), where it fails.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde::de::DeserializeOwned;

pub use tempfile::TempDir;

/// A fresh temporary directory named after `name`, removed (with its contents) on drop.
pub fn scratch(name: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("mesh5xx-{name}-"))
        .tempdir()
        .expect("a temporary directory")
}

/// What a test may need from the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// Running as root (network namespaces, nftables).
    Root,
    /// A program on `PATH`, and the Debian package that has it.
    Tool {
        /// The program.
        name: &'static str,
        /// Its Debian package.
        package: &'static str,
    },
}

impl Requirement {
    /// Whether this machine meets it.
    pub fn met(self) -> bool {
        match self {
            // SAFETY: geteuid has no preconditions and cannot fail.
            Requirement::Root => (unsafe { libc::geteuid() }) == 0,
            Requirement::Tool { name, .. } => on_path(name),
        }
    }

    fn describe(self) -> String {
        match self {
            Requirement::Root => "root".to_string(),
            Requirement::Tool { name, package } => {
                format!("`{name}` (apt-get install {package})")
            }
        }
    }
}

/// Whether the test may go on: `true` when `requirement` is met. When it is not, the test is
/// skipped (`false`, with a message on stderr) — but in CI (`CI` set) it fails: CI must
/// provide what the tests need, so a missing tool cannot turn into a silent pass.
pub fn needs(requirement: Requirement) -> bool {
    if requirement.met() {
        return true;
    }
    let what = requirement.describe();
    assert!(
        std::env::var_os("CI").is_none(),
        "this test needs {what}, which CI must provide"
    );
    eprintln!("skipped: this test needs {what}");
    false
}

/// What pods in network namespaces need (`mesh5xx-podnet`, `--network netns`): root, `ip`
/// and the legacy iptables programs.
pub const POD_NETWORK: [Requirement; 3] = [
    Requirement::Root,
    Requirement::Tool {
        name: "ip",
        package: "iproute2",
    },
    Requirement::Tool {
        name: "iptables-legacy-restore",
        package: "iptables",
    },
];

/// [`needs`] each of `requirements`, in order; `true` when all are met.
pub fn needs_all(requirements: &[Requirement]) -> bool {
    requirements.iter().all(|r| needs(*r))
}

/// Whether `program` is an executable file in a directory of `PATH`.
fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        std::fs::metadata(dir.join(program))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// A real child process of the test, killed when dropped.
#[derive(Debug)]
pub struct Child {
    name: String,
    child: std::process::Child,
}

impl Child {
    /// Start `cmd` (its stdout piped, stderr to `log`) and wait up to `within` for its READY
    /// line, read as `R` (the process's typed `Ready`). Panics, with the log's tail, if it
    /// exits or stays silent.
    pub fn start<R: DeserializeOwned>(
        name: &str,
        mut cmd: Command,
        log: &Path,
        within: Duration,
    ) -> (Child, R) {
        let stderr = std::fs::File::create(log).expect("create the child's log");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("start {name}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(ready) = mesh5xx_process::parse_ready_line(&line) {
                    let _ = tx.send(ready);
                }
            }
        });
        let mut child = Child {
            name: name.to_string(),
            child,
        };
        let ready = match rx.recv_timeout(within) {
            Ok(ready) => ready,
            Err(_) => {
                let status = child.child.try_wait().ok().flatten();
                let tail = std::fs::read_to_string(log).unwrap_or_default();
                panic!("{name} printed no READY line within {within:?} (exit: {status:?}); its stderr:\n{tail}");
            }
        };
        let ready = serde_json::from_value(ready.clone())
            .unwrap_or_else(|e| panic!("{name}'s READY line {ready} does not read: {e}"));
        (child, ready)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send SIGTERM and wait for it to exit (at most `within`, then SIGKILL and panic).
    pub fn terminate(mut self, within: Duration) -> ExitStatus {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill has no memory preconditions; pid is our own child, not yet reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the child") {
                return status;
            }
            if std::time::Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!("{} did not exit within {within:?} of SIGTERM", self.name);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scratch_directory_goes_away_on_drop() {
        let dir = scratch("testkit");
        let path = dir.path().to_path_buf();
        std::fs::write(path.join("f"), "x").unwrap();
        assert!(path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("mesh5xx-testkit-"));
        drop(dir);
        assert!(!path.exists());
    }

    #[test]
    fn tools_are_looked_up_on_path() {
        assert!(Requirement::Tool {
            name: "sh",
            package: "dash"
        }
        .met());
        assert!(!Requirement::Tool {
            name: "no-such-tool-mesh5xx",
            package: "none"
        }
        .met());
    }

    #[test]
    fn a_child_announces_ready_and_is_killed_on_drop() {
        let dir = scratch("testkit-child");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo 'MESH5XX-READY {\"n\":7}'; exec sleep 60"]);
        #[derive(serde::Deserialize)]
        struct Ready {
            n: u32,
        }
        let (child, ready): (Child, Ready) = Child::start(
            "sleeper",
            cmd,
            &dir.path().join("log"),
            Duration::from_secs(5),
        );
        assert_eq!(ready.n, 7);
        let pid = child.pid();
        drop(child);
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "{pid} still runs"
        );
    }

    #[test]
    fn sigterm_ends_a_child() {
        let dir = scratch("testkit-term");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo 'MESH5XX-READY {}'; exec sleep 60"]);
        let (child, _): (Child, serde_json::Value) = Child::start(
            "sleeper",
            cmd,
            &dir.path().join("log"),
            Duration::from_secs(5),
        );
        let status = child.terminate(Duration::from_secs(5));
        assert!(!status.success());
    }
}
