//! Test support: the binary under test, scratch directories, and a process-leak check.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output};
use std::time::{Duration, Instant};

use mesh5xx_testkit::{scratch, TempDir};

/// The repository's scenarios directory.
pub fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

/// `mesh5xx` with the repository's scenarios.
pub fn mesh5xx() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mesh5xx"));
    c.env("MESH5XX_SCENARIOS", scenarios_dir());
    c
}

/// Run `mesh5xx ARGS` to completion.
pub fn run(args: &[&str]) -> Output {
    mesh5xx().args(args).output().expect("mesh5xx runs")
}

/// A scratch directory removed on drop.
pub struct Scratch(TempDir);

impl Scratch {
    pub fn new(name: &str) -> Self {
        Scratch(scratch(name))
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }

    pub fn arg(&self) -> &str {
        self.0.path().to_str().unwrap()
    }
}

/// The names of a summary's variants, in run order.
pub fn variant_names(summary: &serde_json::Value) -> Vec<&str> {
    summary["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect()
}

/// Pids of live processes whose command line mentions `needle` (e.g. a run directory).
pub fn processes_mentioning(needle: &str) -> Vec<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = state
                .rsplit(')')
                .next()
                .is_some_and(|s| s.trim_start().starts_with('Z'));
            !zombie && String::from_utf8_lossy(&cmd).contains(needle)
        })
        .collect()
}

/// Wait up to `secs` for no process to mention `needle`; the leftovers otherwise.
pub fn wait_no_processes(needle: &str, secs: u64) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let left = processes_mentioning(needle);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Read `summary.json` of a run directory.
pub fn summary(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json written");
    serde_json::from_str(&text).expect("summary.json is JSON")
}

/// Check `value` against the committed `results/schema.json`.
pub fn assert_matches_schema(value: &serde_json::Value) {
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../results/schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "summary.json does not match results/schema.json: {errors:#?}"
    );
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Variant `name` of a summary.
pub fn variant<'a>(s: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    s["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no variant {name}"))
}

/// Send `sig` to `child`.
pub fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
}

/// `child`'s exit status once it exits within `secs`; `None` (and the child killed) if it
/// does not.
pub fn wait_with_timeout(child: &mut Child, secs: u64) -> Option<ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
