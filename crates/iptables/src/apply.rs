//! Rules into the kernel and back: `iptables-restore` and `iptables-save` in the calling
//! thread's network namespace (a child process inherits the namespace of the thread that
//! starts it).

use std::io::Write;
use std::process::{Command, Stdio};

use crate::rules::{normalise, Family, Rules};
use crate::IptablesError;

/// Which iptables backend the programs use.
///
/// Every era's image ran x_tables ("legacy") iptables: 1.2's proxy_init on ubuntu:xenial
/// (iptables 1.6.0, legacy only; pilot/docker/Dockerfile.proxy_init@1.2.10), 1.4's istio/base
/// on ubuntu:bionic (iptables 1.6.1, legacy only; docker/Dockerfile.base@1.4.0 L1, L16),
/// 1.13's on ubuntu:focal (whose alternatives default to legacy; docker/Dockerfile.base@1.13.0
/// L1) and 1.24's pinning the alternatives to legacy (docker/Dockerfile.base@1.24.0 L29-30);
/// 1.24's istio-iptables picks nft only where nft
/// rules already exist in the namespace (pkg/dependencies/implementation.go@1.24.0 L133-173),
/// which a new pod namespace has none of. Debian's `iptables` package defaults to the nft
/// backend, so the lab names the legacy programs explicitly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `iptables-legacy-restore`, `iptables-legacy-save` (and `ip6tables-legacy-*`).
    Legacy,
}

impl Backend {
    fn restore(self, family: Family) -> &'static str {
        match family {
            Family::V4 => "iptables-legacy-restore",
            Family::V6 => "ip6tables-legacy-restore",
        }
    }

    fn save(self, family: Family) -> &'static str {
        match family {
            Family::V4 => "iptables-legacy-save",
            Family::V6 => "ip6tables-legacy-save",
        }
    }
}

/// Apply `rules` in the calling thread's network namespace as istio-iptables does:
/// `iptables-restore --noflush` with the IPv4 rules, and `ip6tables-restore --noflush` if the
/// era writes IPv6 rules for the pod (the scripts' IPv6 INPUT filter). Waits up to 5 s for
/// the xtables lock other namespaces' restores hold, trying every 10 ms (iptables' default
/// interval, 1 s, would make pods started together wait for each other by whole seconds).
pub fn apply(rules: &Rules) -> Result<(), IptablesError> {
    for family in [Family::V4, Family::V6] {
        if rules.writes(family) {
            let program = Backend::Legacy.restore(family);
            run(
                program,
                &["--noflush", "--wait=5", "--wait-interval=10000"],
                Some(&rules.restore(family)),
            )?;
        }
    }
    Ok(())
}

/// `iptables-save` (`ip6tables-save` for [`Family::V6`]) in the calling thread's network
/// namespace, [`normalise`]d: comparable with [`Rules::expected_dump`].
pub fn dump(family: Family) -> Result<String, IptablesError> {
    let save = run(Backend::Legacy.save(family), &[], None)?;
    Ok(normalise(&save, family))
}

fn run(program: &'static str, args: &[&str], stdin: Option<&str>) -> Result<String, IptablesError> {
    let io = |source| IptablesError::Io { program, source };
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => IptablesError::Missing { program },
            _ => io(e),
        })?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes()).map_err(io)?;
    }
    let out = child.wait_with_output().map_err(io)?;
    if !out.status.success() {
        return Err(IptablesError::Failed {
            program,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
