//! `ip -batch -`: iproute2 commands, one process per batch, in a given network namespace.

use std::process::Stdio;

use mesh5xx_process::netns::NetNs;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::PodNetError;

/// Run `commands` (one per line, without the leading `ip`) with `ip -batch -` in `ns` (the
/// caller's namespace when `None`); `place` names it in errors.
pub async fn batch(
    ns: Option<&NetNs>,
    place: &str,
    commands: &[String],
) -> Result<(), PodNetError> {
    let text = commands.join("\n") + "\n";
    let mut cmd = Command::new("ip");
    cmd.args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(ns) = ns {
        ns.enter_on_spawn(&mut cmd);
    }
    let mut child = cmd.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => PodNetError::NoIp,
        _ => PodNetError::Io {
            what: format!("starting `ip` in {place}"),
            source: e,
        },
    })?;
    let io = |source| PodNetError::Io {
        what: format!("`ip -batch` in {place}"),
        source,
    };
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin.write_all(text.as_bytes()).await.map_err(io)?;
    drop(stdin);
    let out = child.wait_with_output().await.map_err(io)?;
    if !out.status.success() {
        return Err(PodNetError::Ip {
            place: place.to_string(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            batch: text,
        });
    }
    Ok(())
}
