//! The command line of `mesh5xx upstream`, its conversion to an [`UpstreamConfig`], and back.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::config::UpstreamConfig;
use crate::error::UpstreamError;
use crate::faults::{AppFault, AppFaults};
use crate::spec;

/// Command-line arguments of `mesh5xx upstream`.
///
/// Build them with [`UpstreamArgs::new`] and turn them into a command line with
/// [`UpstreamArgs::to_argv`]; clap parses that command line back to equal arguments.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct UpstreamArgs {
    /// Address to listen on; port 0 picks a free port (printed on the READY line).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,

    /// One fault of the app (repeatable, at most one of each): NAME (its defaults),
    /// NAME:key=value,... (a dotted key reaches into a map: status:codes.503=5) or NAME=JSON,
    /// e.g. --fault idle-close:after_ms=20 --fault close-lag:ms=10. --list-faults shows every
    /// fault and its parameters.
    #[arg(long = "fault", value_name = "SPEC", value_parser = spec::parse)]
    pub faults: Vec<AppFault>,

    /// Response body size in bytes (default: the 3 bytes `ok\n`).
    #[arg(long, value_name = "N")]
    pub body_bytes: Option<usize>,

    /// On SIGTERM or SIGINT write the report JSON to this file (default: print it on stdout).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// Tokio worker threads; 1 runs everything on a single thread.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: u16,

    /// Print every fault (name, what it models, parameters, an example) and exit.
    #[arg(long)]
    pub list_faults: bool,
}

impl UpstreamArgs {
    /// A server listening on `listen` with `faults`; no report file (stdout), one thread,
    /// the default body.
    pub fn new(listen: SocketAddr, faults: AppFaults) -> Self {
        Self {
            listen,
            faults: faults.into_iter().collect(),
            body_bytes: None,
            report: None,
            threads: 1,
            list_faults: false,
        }
    }

    /// The same, writing its report to `path`.
    #[must_use]
    pub fn with_report(mut self, path: impl Into<PathBuf>) -> Self {
        self.report = Some(path.into());
        self
    }

    /// The same, answering bodies of `bytes` bytes.
    #[must_use]
    pub fn with_body_bytes(mut self, bytes: usize) -> Self {
        self.body_bytes = Some(bytes);
        self
    }

    /// The same, on `threads` worker threads (at least 1).
    #[must_use]
    pub fn with_threads(mut self, threads: u16) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// These arguments as a command line, after the `upstream` subcommand word.
    pub fn to_argv(&self) -> Vec<String> {
        let mut a = vec!["--listen".to_string(), self.listen.to_string()];
        for fault in &self.faults {
            a.extend(["--fault".to_string(), spec::format(fault)]);
        }
        if let Some(bytes) = self.body_bytes {
            a.extend(["--body-bytes".to_string(), bytes.to_string()]);
        }
        if let Some(report) = &self.report {
            a.extend(["--report".to_string(), report.display().to_string()]);
        }
        if self.threads != 1 {
            a.extend(["--threads".to_string(), self.threads.to_string()]);
        }
        if self.list_faults {
            a.push("--list-faults".to_string());
        }
        a
    }

    /// The faults, checked: each valid, none given twice.
    pub fn faults(&self) -> Result<AppFaults, UpstreamError> {
        let mut faults = AppFaults::new();
        for fault in &self.faults {
            fault.validate()?;
            if faults.insert(fault.clone()).is_some() {
                return Err(UpstreamError::DuplicateFault(fault.kind()));
            }
        }
        Ok(faults)
    }

    /// The validated server configuration these arguments describe.
    pub fn config(&self) -> Result<UpstreamConfig, UpstreamError> {
        Ok(UpstreamConfig {
            listen: self.listen,
            body_bytes: self.body_bytes,
            faults: self.faults()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{
        CloseLag, CloseMode, Delay, Down, DownWindow, FaultKind, IdleClose, Lifetime, MaxRequests,
        Status,
    };
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: UpstreamArgs,
    }

    fn parse(args: &[&str]) -> Result<UpstreamArgs, String> {
        let argv = std::iter::once("upstream").chain(args.iter().copied());
        Cli::try_parse_from(argv)
            .map(|c| c.args)
            .map_err(|e| e.to_string())
    }

    fn local() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 0))
    }

    #[test]
    fn defaults_turn_everything_off() {
        let args = parse(&[]).unwrap();
        assert_eq!(args, UpstreamArgs::new(local(), AppFaults::new()));
        assert_eq!(args.config().unwrap(), UpstreamConfig::default());
    }

    #[test]
    fn to_argv_round_trips_through_the_command_line() {
        let window = |at_ms, for_ms| DownWindow { at_ms, for_ms };
        let configs = [
            UpstreamArgs::new(local(), AppFaults::new()),
            UpstreamArgs::new(
                local(),
                AppFaults::new()
                    .with(IdleClose { after_ms: 20 })
                    .with(CloseLag { ms: 10 }),
            ),
            UpstreamArgs::new(
                "127.0.0.1:8080".parse().unwrap(),
                AppFaults::new().with(MaxRequests {
                    count: 10,
                    mode: CloseMode::Drop,
                }),
            )
            .with_report("/run/app-0.json"),
            UpstreamArgs::new(
                local(),
                AppFaults::new()
                    .with(MaxRequests {
                        count: 3,
                        mode: CloseMode::Abrupt,
                    })
                    .with(Lifetime { after_ms: 200 })
                    .with(CloseLag { ms: 10 })
                    .with(Delay {
                        ms: 5,
                        jitter_ms: 1,
                    }),
            )
            .with_threads(2),
            UpstreamArgs::new(
                "[::1]:9000".parse().unwrap(),
                AppFaults::new()
                    .with(Status {
                        codes: [(503, 5.0), (500, 0.25)].into_iter().collect(),
                    })
                    .with(Down {
                        windows: vec![window(5000, 100), window(2000, 2000)],
                        after_first_request: true,
                    }),
            )
            .with_body_bytes(10_000)
            .with_report("/tmp/a report.json"),
            UpstreamArgs::new(
                local(),
                FaultKind::ALL.iter().map(|k| k.example()).collect(),
            ),
        ];
        for args in configs {
            let argv = args.to_argv();
            let parsed = parse(&argv.iter().map(String::as_str).collect::<Vec<_>>())
                .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
            assert_eq!(parsed, args, "{argv:?}");
            let faults: AppFaults = args.faults.iter().cloned().collect();
            assert_eq!(parsed.faults().unwrap(), faults, "{argv:?}");
        }
    }

    #[test]
    fn the_command_line_reads_like_the_scenario_file() {
        let args = UpstreamArgs::new(
            local(),
            AppFaults::new()
                .with(IdleClose { after_ms: 20 })
                .with(CloseLag { ms: 10 }),
        )
        .with_report("/r.json");
        assert_eq!(
            args.to_argv().join(" "),
            "--listen 127.0.0.1:0 --fault idle-close:after_ms=20 --fault close-lag:ms=10 --report /r.json"
        );
    }

    #[test]
    fn every_spec_form_maps_to_the_config() {
        let args = parse(&[
            "--listen=127.0.0.1:8080",
            "--fault=idle-close:after_ms=20",
            "--fault",
            "max-requests",
            "--fault",
            r#"down={"windows":[{"at_ms":3000,"for_ms":2000}],"after_first_request":true}"#,
            "--fault=status:codes.503=5,codes.504=0.5",
            "--body-bytes=100",
            "--report=out.json",
            "--threads=2",
        ])
        .unwrap();
        let c = args.config().unwrap();
        assert_eq!(c.listen.port(), 8080);
        assert_eq!(
            c.faults.get(FaultKind::IdleClose),
            Some(&AppFault::IdleClose(IdleClose { after_ms: 20 }))
        );
        assert_eq!(
            c.faults.get(FaultKind::MaxRequests),
            Some(&AppFault::MaxRequests(MaxRequests::default()))
        );
        let Some(AppFault::Down(down)) = c.faults.get(FaultKind::Down) else {
            panic!("{c:?}");
        };
        assert!(down.after_first_request);
        assert_eq!(down.windows[0].for_ms, 2000);
        let Some(AppFault::Status(status)) = c.faults.get(FaultKind::Status) else {
            panic!("{c:?}");
        };
        assert_eq!(status.codes.get(&504), Some(&0.5));
        assert_eq!(c.body_bytes, Some(100));
        assert_eq!(
            (args.report.unwrap(), args.threads),
            (PathBuf::from("out.json"), 2)
        );
    }

    fn rejected(args: &[&str], words: &[&str]) {
        let err = parse(args).expect_err("should be rejected");
        for w in words {
            assert!(err.contains(w), "{err:?} should mention {w:?}");
        }
    }

    #[test]
    fn bad_faults_name_the_flag_the_fault_and_the_field() {
        rejected(
            &["--fault", "max-requests:count=0"],
            &["--fault", "max-requests.count: 0 is not a positive number"],
        );
        rejected(
            &["--fault", "max-requests:mode=rude"],
            &["--fault", "max-requests.mode", "rude"],
        );
        rejected(
            &["--fault", "status:codes.503=60,codes.504=50"],
            &["--fault", "status.codes", "110, more than 100"],
        );
        rejected(
            &[
                "--fault",
                r#"down={"windows":[{"at_ms":3000,"for_ms":2000},{"at_ms":4000,"for_ms":1000}]}"#,
            ],
            &[
                "--fault",
                "down.windows",
                "{at_ms: 3000, for_ms: 2000} overlaps {at_ms: 4000, for_ms: 1000}",
            ],
        );
        rejected(
            &["--fault", "lifetime"],
            &["--fault", "lifetime", "after_ms"],
        );
        rejected(
            &["--fault", "keepalive:ms=3"],
            &[
                "--fault",
                "unknown fault `keepalive`",
                "idle-close",
                "--list-faults",
            ],
        );
    }

    #[test]
    fn a_fault_given_twice_is_rejected() {
        let args = parse(&["--fault", "delay:ms=1", "--fault", "delay:ms=2"]).unwrap();
        let err = args.config().unwrap_err().to_string();
        assert!(
            err.contains("--fault delay is given more than once"),
            "{err}"
        );
    }

    #[test]
    fn the_flat_flags_are_gone() {
        for flag in [
            "--idle-timeout-ms=20",
            "--close-lag-ms=10",
            "--max-requests=3",
            "--close-mode=drop",
            "--max-lifetime-ms=200",
            "--delay-ms=5",
            "--delay-jitter-ms=1",
            "--status=503:5",
            "--down=3000+2000",
            "--down-after-first-request",
        ] {
            assert!(parse(&[flag]).is_err(), "{flag} is still accepted");
        }
    }

    #[test]
    fn other_bad_values_are_rejected() {
        rejected(&["--threads", "0"], &["--threads", "'0'"]);
        rejected(&["--body-bytes", "lots"], &["--body-bytes", "'lots'"]);
    }

    #[test]
    fn list_faults_is_a_flag() {
        assert!(parse(&["--list-faults"]).unwrap().list_faults);
    }
}
