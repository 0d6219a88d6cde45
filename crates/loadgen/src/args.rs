//! The command line of `mesh5xx loadgen` and its translation into a [`LoadConfig`].

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::{parse_header, Arrivals, LoadConfig, Pacing, ResolveConfig, ResolveMode, Stop};
use crate::LoadError;

/// Command-line arguments of `mesh5xx loadgen`.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct LoadArgs {
    /// Address to connect to, host:port (e.g. the sidecar's listener).
    #[arg(long, value_name = "ADDR")]
    pub target: String,
    /// Host header [default: the target].
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    /// Request path.
    #[arg(long, default_value = "/")]
    pub path: String,
    /// Request method.
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// Extra request header 'Name: value' (repeatable).
    #[arg(long = "header", value_name = "K: V", value_parser = parse_header)]
    pub headers: Vec<(String, String)>,
    /// Request body size in bytes.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub body_bytes: usize,
    /// Number of workers, each with at most one connection at a time.
    #[arg(short = 'c', long, default_value_t = 8, value_name = "N")]
    pub connections: usize,
    /// Run duration in ms [default: 5000 unless --requests is given].
    #[arg(long, value_name = "MS")]
    pub duration_ms: Option<u64>,
    /// Stop after this many requests.
    #[arg(long, value_name = "N")]
    pub requests: Option<u64>,
    /// Closed loop: pause after each response before the worker's next request.
    #[arg(long, default_value_t = 0, value_name = "MS", conflicts_with = "rate")]
    pub think_ms: u64,
    /// Closed loop: uniform jitter around --think-ms.
    #[arg(long, default_value_t = 0, value_name = "MS", conflicts_with = "rate")]
    pub think_jitter_ms: u64,
    /// Open loop: requests per second in total, at intended times set in advance.
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,
    /// Open loop: `uniform` spaces the intended times 1/R apart, `poisson` draws them as a
    /// Poisson process (independent callers).
    #[arg(long, value_enum, default_value_t = Arrivals::Uniform, requires = "rate")]
    pub arrivals: Arrivals,
    /// Seed of the random choices (think-time jitter, Poisson gaps) [default: random].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Per-request timeout (connect included).
    #[arg(long, default_value_t = 30_000, value_name = "MS")]
    pub timeout_ms: u64,
    /// A new connection per request (sends `Connection: close`).
    #[arg(long)]
    pub no_keepalive: bool,
    /// Send HTTP/1.0 requests (request line `HTTP/1.0`; with keep-alive, `Connection:
    /// keep-alive`; without, no `Connection` header, as HTTP/1.0 closes by default).
    #[arg(long)]
    pub http10: bool,
    /// Speak a server-first line protocol instead of HTTP (SMTP, MySQL): per request a new
    /// connection, the server's banner line awaited up to MS (else `no_banner`), a line sent
    /// and its answer read within --timeout-ms.
    #[arg(long, value_name = "MS", conflicts_with_all = ["http10", "resolve"])]
    pub banner_timeout_ms: Option<u64>,
    /// Close a connection after this many requests.
    #[arg(long, value_name = "N")]
    pub max_requests_per_conn: Option<u64>,
    /// Response header carrying Envoy's %RESPONSE_FLAGS%.
    #[arg(long, default_value = crate::DEFAULT_FLAGS_HEADER, value_name = "NAME")]
    pub flags_header: String,
    /// Resolve NAME (through --dns, else the system's resolver) and send
    /// `x-envoy-original-dst-host: IP:PORT`, or with --connect-resolved connect to IP:PORT.
    #[arg(long, value_name = "NAME", requires = "upstream_port")]
    pub resolve: Option<String>,
    /// DNS server (UDP) used by --resolve, ip:port (default: the system's resolver).
    #[arg(long, value_name = "ADDR", requires = "resolve")]
    pub dns: Option<SocketAddr>,
    /// Port of the resolved address (in the header, or connected to).
    #[arg(long, value_name = "PORT", requires = "resolve")]
    pub upstream_port: Option<u16>,
    /// Connect to the resolved address itself instead of --target (an app in a pod whose
    /// sidecar captures its outbound connections).
    #[arg(long, requires = "resolve")]
    pub connect_resolved: bool,
    /// When to look the name up again: once, per-connection or every-ms:N.
    #[arg(
        long,
        default_value = "once",
        value_name = "MODE",
        requires = "resolve"
    )]
    pub resolve_mode: ResolveMode,
    /// JSON report file ('-' = stdout).
    #[arg(long, default_value = "-", value_name = "FILE")]
    pub out: String,
    /// Latency percentile distribution in HdrHistogram's .hgrm text format (ms).
    #[arg(long, value_name = "FILE")]
    pub hgrm: Option<PathBuf>,
    /// One-line progress display on stderr.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
}

/// When to show the progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// Only when stderr is a terminal.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

impl LoadArgs {
    /// The arguments of a run sending to `target` for `duration_ms`, reporting to `out`, with
    /// every other flag at its default (clap's, so the defaults are written once, on the flags).
    pub fn new(target: impl Into<String>, duration_ms: u64, out: impl Into<String>) -> Self {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            args: LoadArgs,
        }
        let mut args = <Defaults as clap::Parser>::parse_from(["loadgen", "--target", "-"]).args;
        args.target = target.into();
        args.duration_ms = Some(duration_ms);
        args.out = out.into();
        args
    }

    /// These arguments as a command line, after the `loadgen` subcommand word: what a
    /// process (or a pod) running `mesh5xx loadgen` is given. Flags at their default are left
    /// out; parsing the result gives these arguments back.
    pub fn to_argv(&self) -> Vec<String> {
        let defaults = LoadArgs::new(String::new(), 0, "-");
        let mut a: Vec<String> = vec!["--target".into(), self.target.clone()];
        let mut flag = |name: &str, value: String| {
            a.push(format!("--{name}"));
            a.push(value);
        };
        if let Some(host) = &self.host {
            flag("host", host.clone());
        }
        if self.path != defaults.path {
            flag("path", self.path.clone());
        }
        if self.method != defaults.method {
            flag("method", self.method.clone());
        }
        for (k, v) in &self.headers {
            flag("header", format!("{k}: {v}"));
        }
        if self.body_bytes != defaults.body_bytes {
            flag("body-bytes", self.body_bytes.to_string());
        }
        if self.connections != defaults.connections {
            flag("connections", self.connections.to_string());
        }
        if let Some(ms) = self.duration_ms {
            flag("duration-ms", ms.to_string());
        }
        if let Some(n) = self.requests {
            flag("requests", n.to_string());
        }
        if self.think_ms != defaults.think_ms {
            flag("think-ms", self.think_ms.to_string());
        }
        if self.think_jitter_ms != defaults.think_jitter_ms {
            flag("think-jitter-ms", self.think_jitter_ms.to_string());
        }
        if let Some(rate) = self.rate {
            flag("rate", rate.to_string());
            if self.arrivals != defaults.arrivals {
                let arrivals = clap::ValueEnum::to_possible_value(&self.arrivals)
                    .expect("every arrival kind has a name");
                flag("arrivals", arrivals.get_name().to_string());
            }
        }
        if let Some(seed) = self.seed {
            flag("seed", seed.to_string());
        }
        if self.timeout_ms != defaults.timeout_ms {
            flag("timeout-ms", self.timeout_ms.to_string());
        }
        if let Some(ms) = self.banner_timeout_ms {
            flag("banner-timeout-ms", ms.to_string());
        }
        if let Some(n) = self.max_requests_per_conn {
            flag("max-requests-per-conn", n.to_string());
        }
        if self.flags_header != defaults.flags_header {
            flag("flags-header", self.flags_header.clone());
        }
        if let Some(name) = &self.resolve {
            flag("resolve", name.clone());
            if let Some(dns) = self.dns {
                flag("dns", dns.to_string());
            }
            if let Some(port) = self.upstream_port {
                flag("upstream-port", port.to_string());
            }
            flag("resolve-mode", self.resolve_mode.to_string());
        }
        if self.out != defaults.out {
            flag("out", self.out.clone());
        }
        if let Some(hgrm) = &self.hgrm {
            flag("hgrm", hgrm.display().to_string());
        }
        if self.progress != defaults.progress {
            let progress = clap::ValueEnum::to_possible_value(&self.progress)
                .expect("every progress mode has a name");
            flag("progress", progress.get_name().to_string());
        }
        if self.no_keepalive {
            a.push("--no-keepalive".into());
        }
        if self.connect_resolved {
            a.push("--connect-resolved".into());
        }
        if self.http10 {
            a.push("--http10".into());
        }
        a
    }

    /// The validated run configuration these flags describe.
    pub fn to_config(&self) -> Result<LoadConfig, LoadError> {
        let stop = Stop {
            duration: match (self.duration_ms, self.requests) {
                (None, None) => Some(Duration::from_millis(5000)),
                (ms, _) => ms.map(Duration::from_millis),
            },
            requests: self.requests,
        };
        if stop.duration == Some(Duration::ZERO) {
            return Err(LoadError::flag("--duration-ms", 0, "must be at least 1"));
        }
        let pacing = match self.rate {
            Some(rate) => Pacing::Open {
                rate,
                arrivals: self.arrivals,
            },
            None => Pacing::Closed {
                think: Duration::from_millis(self.think_ms),
                jitter: Duration::from_millis(self.think_jitter_ms),
            },
        };
        let resolve = match (&self.resolve, self.upstream_port) {
            (Some(name), Some(upstream_port)) => Some(ResolveConfig {
                name: name.clone(),
                dns: self.dns,
                upstream_port,
                mode: self.resolve_mode,
                connect: self.connect_resolved,
            }),
            (None, None) => None,
            _ => {
                return Err(LoadError::flag(
                    "--resolve",
                    self.resolve.as_deref().unwrap_or("-"),
                    "needs --upstream-port",
                ))
            }
        };
        let config = LoadConfig {
            target: self.target.clone(),
            host: self.host.clone(),
            path: self.path.clone(),
            method: self.method.clone(),
            headers: self.headers.clone(),
            body_bytes: self.body_bytes,
            connections: self.connections,
            stop,
            pacing,
            timeout: Duration::from_millis(self.timeout_ms),
            keepalive: !self.no_keepalive,
            http10: self.http10,
            max_requests_per_conn: self.max_requests_per_conn,
            flags_header: self.flags_header.clone(),
            resolve,
            progress: match self.progress {
                ProgressMode::Always => true,
                ProgressMode::Never => false,
                ProgressMode::Auto => std::io::stderr().is_terminal(),
            },
            seed: self.seed,
            banner_timeout: self.banner_timeout_ms.map(Duration::from_millis),
        };
        config.validate()?;
        Ok(config)
    }
}
