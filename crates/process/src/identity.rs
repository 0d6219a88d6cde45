//! Who a child runs as.

/// Start `cmd`'s process with `gid` as its only group (real, effective and supplementary),
/// its user unchanged: what the capture rules' `-m owner --gid-owner GID` match sees.
pub fn with_group(cmd: &mut tokio::process::Command, gid: u32) {
    // SAFETY: setgroups and setgid are async-signal-safe and change only the child.
    unsafe {
        cmd.pre_exec(move || {
            let groups = [gid as libc::gid_t];
            if libc::setgroups(1, groups.as_ptr()) != 0 || libc::setgid(gid as libc::gid_t) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_child_runs_with_the_group_only() {
        let mut cmd = tokio::process::Command::new("id");
        cmd.arg("-G");
        super::with_group(&mut cmd, 1337);
        let out = cmd.output().await.unwrap();
        assert!(out.status.success(), "setgid needs root");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1337");
    }
}
