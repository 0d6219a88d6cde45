//! A supervised child: parent-death signal, READY handshake, graceful stop, kill on drop.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

use crate::ready::parse_ready_line;

/// What can go wrong while starting or stopping a child.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The program could not be started at all.
    #[error("could not start {name} ({program}): {source}")]
    Spawn {
        name: String,
        program: String,
        source: std::io::Error,
    },
    /// The child's output log could not be created.
    #[error("could not create log file {path}: {source}")]
    Log {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The child exited or closed stdout before printing its READY line.
    #[error("{name} exited before it was ready; see {log}")]
    ExitedEarly { name: String, log: String },
    /// No READY line within the timeout.
    #[error("{name} printed no READY line within {secs:.1} s; see {log}")]
    NotReady {
        name: String,
        secs: f64,
        log: String,
    },
    /// The READY payload did not have the expected shape.
    #[error("{name} printed a READY line that does not fit: {reason}")]
    BadReady { name: String, reason: String },
    /// Waiting on the child failed.
    #[error("waiting for {name} failed: {source}")]
    Wait {
        name: String,
        source: std::io::Error,
    },
}

/// A child process that dies with its parent and is killed on `Drop`.
pub struct Supervised {
    name: String,
    child: Child,
    log: Option<PathBuf>,
    ready: Option<oneshot::Receiver<serde_json::Value>>,
}

impl Supervised {
    /// Spawn `cmd` as the child called `name`.
    ///
    /// stdout and stderr are copied to `log` (or discarded when `None`);
    /// a READY line on stdout is handed to [`Supervised::wait_ready`].
    /// Spawn from a runtime worker thread: the parent-death signal follows
    /// the spawning thread.
    pub fn spawn(name: &str, cmd: Command, log: Option<&Path>) -> Result<Self, ProcessError> {
        Self::start(name, cmd, log, false, false)
    }

    /// Like [`Supervised::spawn`], with the child's stdin a pipe the caller writes to: the
    /// channel of a long-lived child that takes instructions (`mesh5xx xds` reads updates).
    pub fn spawn_with_input(
        name: &str,
        cmd: Command,
        log: Option<&Path>,
    ) -> Result<(Self, tokio::process::ChildStdin), ProcessError> {
        let mut s = Self::start(name, cmd, log, false, true)?;
        let stdin = s.child.stdin.take().expect("stdin is piped");
        Ok((s, stdin))
    }

    /// Like [`Supervised::spawn`], but the child's stderr goes straight to ours (a live
    /// progress line on the terminal); only stdout is kept in `log`.
    pub fn spawn_showing_stderr(
        name: &str,
        cmd: Command,
        log: Option<&Path>,
    ) -> Result<Self, ProcessError> {
        Self::start(name, cmd, log, true, false)
    }

    fn start(
        name: &str,
        mut cmd: Command,
        log: Option<&Path>,
        show_stderr: bool,
        input: bool,
    ) -> Result<Self, ProcessError> {
        cmd.stdin(if input { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(if show_stderr {
                Stdio::inherit()
            } else {
                Stdio::piped()
            })
            .kill_on_drop(true);
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: only async-signal-safe calls (prctl, getppid, kill) run between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::getppid() != parent {
                    libc::kill(libc::getpid(), libc::SIGKILL);
                }
                Ok(())
            });
        }
        let program = cmd.as_std().get_program().to_string_lossy().into_owned();
        let mut child = cmd.spawn().map_err(|source| ProcessError::Spawn {
            name: name.to_string(),
            program,
            source,
        })?;

        let sink = match log {
            Some(path) => Some(open_log(path)?),
            None => None,
        };
        let (ready_tx, ready_rx) = oneshot::channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(copy_lines(stderr, sink.clone(), None));
        }
        tokio::spawn(copy_lines(stdout, sink, Some(ready_tx)));

        Ok(Self {
            name: name.to_string(),
            child,
            log: log.map(Path::to_path_buf),
            ready: Some(ready_rx),
        })
    }

    /// The child's name, as given to [`Supervised::spawn`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The child's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Wait for the READY line and decode its JSON payload.
    pub async fn wait_ready<T: DeserializeOwned>(
        &mut self,
        timeout: Duration,
    ) -> Result<T, ProcessError> {
        let rx = self.ready.take().ok_or_else(|| ProcessError::BadReady {
            name: self.name.clone(),
            reason: "wait_ready was already called".into(),
        })?;
        let value = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(v)) => v,
            Ok(Err(_)) => {
                return Err(ProcessError::ExitedEarly {
                    name: self.name.clone(),
                    log: self.log_name(),
                })
            }
            Err(_) => {
                return Err(ProcessError::NotReady {
                    name: self.name.clone(),
                    secs: timeout.as_secs_f64(),
                    log: self.log_name(),
                })
            }
        };
        serde_json::from_value(value).map_err(|e| ProcessError::BadReady {
            name: self.name.clone(),
            reason: e.to_string(),
        })
    }

    /// Ask the child to stop with SIGTERM; SIGKILL it if it is still running after `grace`.
    pub async fn stop(
        &mut self,
        grace: Duration,
    ) -> Result<std::process::ExitStatus, ProcessError> {
        if let Some(pid) = self.child.id() {
            // SAFETY: plain kill(2) on our own child's pid.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGTERM);
            }
        }
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => status.map_err(|source| self.wait_error(source)),
            Err(_) => {
                let _ = self.child.start_kill();
                self.child
                    .wait()
                    .await
                    .map_err(|source| self.wait_error(source))
            }
        }
    }

    /// Wait for the child to exit on its own.
    pub async fn wait(&mut self) -> Result<std::process::ExitStatus, ProcessError> {
        self.child
            .wait()
            .await
            .map_err(|source| self.wait_error(source))
    }

    /// SIGKILL the child now, as the kernel's OOM killer does, and reap it.
    pub async fn kill(&mut self) -> Result<std::process::ExitStatus, ProcessError> {
        // An error means it has exited already; `wait` reaps it either way.
        let _ = self.child.start_kill();
        self.wait().await
    }

    /// Wait for the child to exit on its own, at most `timeout`; SIGKILL it after that.
    pub async fn wait_or_kill(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<std::process::ExitStatus>, ProcessError> {
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => status.map(Some).map_err(|source| self.wait_error(source)),
            Err(_) => {
                let _ = self.child.start_kill();
                let _ = self.child.wait().await;
                Ok(None)
            }
        }
    }

    fn wait_error(&self, source: std::io::Error) -> ProcessError {
        ProcessError::Wait {
            name: self.name.clone(),
            source,
        }
    }

    fn log_name(&self) -> String {
        self.log
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "(no log kept)".into())
    }
}

type Sink = std::sync::Arc<tokio::sync::Mutex<tokio::fs::File>>;

fn open_log(path: &Path) -> Result<Sink, ProcessError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| ProcessError::Log {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(std::sync::Arc::new(tokio::sync::Mutex::new(
        tokio::fs::File::from_std(file),
    )))
}

async fn copy_lines<R: AsyncRead + Unpin>(
    stream: R,
    sink: Option<Sink>,
    mut ready: Option<oneshot::Sender<serde_json::Value>>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if ready.is_some() {
            if let Some(v) = parse_ready_line(&line) {
                let _ = ready.take().expect("checked").send(v);
            }
        }
        if let Some(sink) = &sink {
            let mut f = sink.lock().await;
            let _ = f.write_all(line.as_bytes()).await;
            let _ = f.write_all(b"\n").await;
            let _ = f.flush().await;
        }
    }
}
