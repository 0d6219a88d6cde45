//! The command line of `mesh5xx upstream` and its conversion to an [`UpstreamConfig`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::UpstreamError;
use crate::policy::{CloseMode, Delay, DownWindow, StatusShare, UpstreamConfig};

/// Command-line arguments of `mesh5xx upstream`.
///
/// Durations are integer milliseconds; 0 or absent turns a behaviour off.
#[derive(Debug, Clone, clap::Args)]
pub struct UpstreamArgs {
    /// Address to listen on; port 0 picks a free port (printed on the READY line).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,

    /// Close a keep-alive connection idle this long, without notice (Node/Tomcat keepAliveTimeout).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub idle_timeout_ms: u64,

    /// Recycle a connection after this many responses (see --close-mode).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_requests: u64,

    /// How --max-requests recycles: `graceful` sends `Connection: close` on the Nth response;
    /// `abrupt` closes after the Nth response without the header; `drop` reads request N+1
    /// and closes without replying.
    #[arg(long, value_enum, value_name = "MODE", default_value_t = CloseMode::Graceful)]
    pub close_mode: CloseMode,

    /// Close a connection this long after it opened: when idle, without notice; otherwise
    /// right after the response in flight (Finagle maxLifeTime).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub max_lifetime_ms: u64,

    /// The close path of the server's own closes (idle timeout, lifetime, an abrupt
    /// --max-requests): it stops reading the connection at once and sends the FIN this much
    /// later; a request arriving in between is never answered and is reset by the close.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub close_lag_ms: u64,

    /// Wait this long before each response.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub delay_ms: u64,

    /// Spread the delay uniformly by plus or minus this much.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub delay_jitter_ms: u64,

    /// Answer CODE to PERCENT % of requests (repeatable, e.g. --status 503:5); the rest get 200.
    #[arg(long = "status", value_name = "CODE:PERCENT", value_parser = parse_status)]
    pub statuses: Vec<StatusShare>,

    /// Response body size in bytes (default: the 3 bytes `ok\n`).
    #[arg(long, value_name = "N")]
    pub body_bytes: Option<usize>,

    /// At AT_MS after start stop listening and close every connection, then listen again
    /// on the same address FOR_MS later (repeatable, e.g. --down 3000+2000).
    #[arg(long = "down", value_name = "AT_MS+FOR_MS", value_parser = parse_down)]
    pub down: Vec<DownWindow>,

    /// Count each --down AT_MS from the first request received instead of from the start
    /// (in a cluster the app starts long before the load reaches it).
    #[arg(long, requires = "down")]
    pub down_after_first_request: bool,

    /// On SIGTERM or SIGINT write the report JSON to this file (default: print it on stdout).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// Tokio worker threads; 1 runs everything on a single thread.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: u16,
}

impl UpstreamArgs {
    /// The validated server configuration these arguments describe.
    pub fn config(&self) -> Result<UpstreamConfig, UpstreamError> {
        let ms = |n: u64| (n > 0).then(|| Duration::from_millis(n));
        UpstreamConfig {
            listen: self.listen,
            idle_timeout: ms(self.idle_timeout_ms),
            max_requests: (self.max_requests > 0).then_some(self.max_requests),
            close_mode: self.close_mode,
            max_lifetime: ms(self.max_lifetime_ms),
            close_lag: ms(self.close_lag_ms),
            delay: Delay {
                base: Duration::from_millis(self.delay_ms),
                jitter: Duration::from_millis(self.delay_jitter_ms),
            },
            statuses: self.statuses.clone(),
            body_bytes: self.body_bytes,
            down: self.down.clone(),
            down_after_first_request: self.down_after_first_request,
        }
        .validate()
    }
}

/// Parse `CODE:PERCENT`, e.g. `503:5` or `503:0.25`.
fn parse_status(s: &str) -> Result<StatusShare, String> {
    const FORM: &str = "expected CODE:PERCENT, e.g. 503:5";
    let (code, percent) = s.split_once(':').ok_or_else(|| FORM.to_string())?;
    let code: u16 = code
        .trim()
        .parse()
        .ok()
        .filter(|c| (100..=999).contains(c))
        .ok_or_else(|| format!("'{code}' is not an HTTP status code (100..=999); {FORM}"))?;
    let percent: f64 = percent
        .trim()
        .parse()
        .ok()
        .filter(|p: &f64| (0.0..=100.0).contains(p))
        .ok_or_else(|| format!("'{percent}' is not a percentage between 0 and 100; {FORM}"))?;
    Ok(StatusShare { code, percent })
}

/// Parse `AT_MS+FOR_MS`, e.g. `3000+2000`.
fn parse_down(s: &str) -> Result<DownWindow, String> {
    const FORM: &str = "expected AT_MS+FOR_MS, e.g. 3000+2000";
    let (at, duration) = s.split_once('+').ok_or_else(|| FORM.to_string())?;
    let ms = |v: &str| v.trim().parse::<u64>().map(Duration::from_millis);
    let at = ms(at).map_err(|_| format!("'{at}' is not a whole number of milliseconds; {FORM}"))?;
    let duration = ms(duration)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("'{duration}' is not a positive number of milliseconds; {FORM}"))?;
    Ok(DownWindow { at, duration })
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[test]
    fn defaults_turn_everything_off() {
        let config = parse(&[]).unwrap().config().unwrap();
        assert_eq!(config, UpstreamConfig::default());
    }

    #[test]
    fn all_flags_map_to_the_config() {
        let args = parse(&[
            "--listen=127.0.0.1:8080",
            "--idle-timeout-ms=20",
            "--max-requests=10",
            "--close-mode=drop",
            "--max-lifetime-ms=200",
            "--close-lag-ms=7",
            "--delay-ms=5",
            "--delay-jitter-ms=2",
            "--status=503:5",
            "--status=504:0.5",
            "--body-bytes=100",
            "--down=3000+2000",
            "--down-after-first-request",
            "--report=out.json",
            "--threads=2",
        ])
        .unwrap();
        let c = args.config().unwrap();
        assert_eq!(c.listen.port(), 8080);
        assert_eq!(c.idle_timeout, Some(Duration::from_millis(20)));
        assert_eq!((c.max_requests, c.close_mode), (Some(10), CloseMode::Drop));
        assert_eq!(c.max_lifetime, Some(Duration::from_millis(200)));
        assert_eq!(c.close_lag, Some(Duration::from_millis(7)));
        assert_eq!(c.delay.jitter, Duration::from_millis(2));
        assert_eq!(
            c.statuses[1],
            StatusShare {
                code: 504,
                percent: 0.5
            }
        );
        assert_eq!(c.body_bytes, Some(100));
        assert_eq!(c.down[0].duration, Duration::from_millis(2000));
        assert!(c.down_after_first_request);
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
    fn bad_status_names_flag_and_value() {
        rejected(&["--status", "503"], &["--status", "'503'", "CODE:PERCENT"]);
        rejected(&["--status", "503:101"], &["--status", "'101'"]);
        rejected(&["--status", "50:5"], &["--status", "'50'"]);
        rejected(&["--status", "503:x"], &["--status", "'x'"]);
    }

    #[test]
    fn bad_down_names_flag_and_value() {
        rejected(&["--down", "3000"], &["--down", "'3000'", "AT_MS+FOR_MS"]);
        rejected(&["--down", "3000+0"], &["--down", "'0'"]);
        rejected(&["--down", "soon+5"], &["--down", "'soon'"]);
    }

    #[test]
    fn down_after_first_request_needs_a_down_window() {
        rejected(
            &["--down-after-first-request"],
            &["--down-after-first-request", "--down"],
        );
    }

    #[test]
    fn other_bad_values_are_rejected() {
        rejected(&["--close-mode", "rude"], &["--close-mode", "'rude'"]);
        rejected(&["--threads", "0"], &["--threads", "'0'"]);
        rejected(
            &["--idle-timeout-ms=soon"],
            &["--idle-timeout-ms", "'soon'"],
        );
    }

    #[test]
    fn combined_problems_name_the_flag() {
        let over = parse(&["--status", "503:60", "--status", "504:50"]).unwrap();
        assert!(over.config().unwrap_err().to_string().contains("--status"));
        let overlap = parse(&["--down", "3000+2000", "--down", "4000+1000"]).unwrap();
        let err = overlap.config().unwrap_err().to_string();
        assert!(
            err.contains("--down 3000+2000 overlaps --down 4000+1000"),
            "{err}"
        );
    }
}
