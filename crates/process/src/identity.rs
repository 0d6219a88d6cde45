//! Who a child runs as.

/// `CAP_DAC_OVERRIDE` (linux/capability.h): read, write and search whatever the file modes say.
const CAP_DAC_OVERRIDE: u32 = 1;
/// `_LINUX_CAPABILITY_VERSION_3`: capability sets of two 32-bit words.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

/// `struct __user_cap_data_struct`, one per 32-bit word of the sets.
#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Start `cmd`'s process as user `uid` and group `gid` only (real and effective, no
/// supplementary group): what the capture rules' `-m owner --uid-owner UID` and
/// `--gid-owner GID` matches see. It keeps one capability, `CAP_DAC_OVERRIDE`, as an ambient
/// one that survives its execs, so that it still reads and writes the caller's files (an
/// Envoy installed under a home only root may enter, a run directory owned by root); a
/// container gets the same access from its image and volumes.
pub fn as_user(cmd: &mut tokio::process::Command, uid: u32, gid: u32) {
    // SAFETY: setgroups, setgid, setuid, prctl and the capset system call are
    // async-signal-safe and change only the child.
    unsafe {
        cmd.pre_exec(move || {
            let fail = || Err(std::io::Error::last_os_error());
            let groups = [gid as libc::gid_t];
            if libc::setgroups(1, groups.as_ptr()) != 0 || libc::setgid(gid as libc::gid_t) != 0 {
                return fail();
            }
            // Keep the permitted set across the change of user, then make the one capability
            // permitted, effective, inheritable and ambient.
            if libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0
                || libc::setuid(uid as libc::uid_t) != 0
            {
                return fail();
            }
            let header = CapHeader {
                version: CAPABILITY_VERSION_3,
                pid: 0,
            };
            let bit = 1u32 << CAP_DAC_OVERRIDE;
            let data = [
                CapData {
                    effective: bit,
                    permitted: bit,
                    inheritable: bit,
                },
                CapData {
                    effective: 0,
                    permitted: 0,
                    inheritable: 0,
                },
            ];
            if libc::syscall(libc::SYS_capset, &header, data.as_ptr()) != 0
                || libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                    CAP_DAC_OVERRIDE as libc::c_ulong,
                    0,
                    0,
                ) != 0
            {
                return fail();
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test]
    async fn the_child_runs_as_the_user_and_group_only_and_still_reads_root_only_files() {
        let private = std::env::temp_dir().join(format!("mesh5xx-identity-{}", std::process::id()));
        std::fs::create_dir_all(&private).unwrap();
        std::fs::write(private.join("file"), "secret\n").unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
        let script = format!(
            "id -u; id -G; cat {}; grep CapEff /proc/self/status",
            private.join("file").display()
        );
        let mut cmd = tokio::process::Command::new("sh");
        cmd.args(["-c", &script]);
        super::as_user(&mut cmd, 1337, 1337);
        let out = cmd.output().await.unwrap();
        std::fs::remove_dir_all(&private).unwrap();
        assert!(
            out.status.success(),
            "setuid needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[..3], ["1337", "1337", "secret"], "{out}");
        assert_eq!(
            lines[3].split_whitespace().nth(1),
            Some("0000000000000002"),
            "{out}"
        );
    }
}
