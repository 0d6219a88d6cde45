//! The typed configuration of a load run, validated once.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use crate::LoadError;

/// Everything a load run needs; built from [`crate::LoadArgs`] or directly by tests and the lab.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Address to connect to, `host:port` (e.g. the sidecar's listener).
    pub target: String,
    /// `Host` header; `None` uses [`LoadConfig::target`].
    pub host: Option<String>,
    /// Request path, e.g. `/`.
    pub path: String,
    /// Request method, e.g. `GET`.
    pub method: String,
    /// Extra request headers, in order.
    pub headers: Vec<(String, String)>,
    /// Size of the request body in bytes (0: no body).
    pub body_bytes: usize,
    /// Number of workers, each owning at most one connection at a time.
    pub connections: usize,
    /// When the run ends.
    pub stop: Stop,
    /// Closed or open loop.
    pub pacing: Pacing,
    /// Per-request timeout (connect included).
    pub timeout: Duration,
    /// Reuse connections (`false`: one connection per request, `Connection: close`).
    pub keepalive: bool,
    /// Send HTTP/1.0 requests (an old client): the request line says `HTTP/1.0`, and the
    /// connection is kept only when `keepalive` asks for it (`Connection: keep-alive`).
    pub http10: bool,
    /// Close a connection after this many requests.
    pub max_requests_per_conn: Option<u64>,
    /// Response header carrying Envoy's `%RESPONSE_FLAGS%`.
    pub flags_header: String,
    /// Resolve a name through a DNS server and send `x-envoy-original-dst-host`.
    pub resolve: Option<ResolveConfig>,
    /// Show a one-line progress display on stderr.
    pub progress: bool,
    /// Seed of the random choices (think times, Poisson gaps); `None` picks one.
    pub seed: Option<u64>,
    /// Speak a server-first line protocol instead of HTTP: a connection per exchange, the
    /// server's banner awaited this long, then a line sent and its answer read.
    pub banner_timeout: Option<Duration>,
}

impl LoadConfig {
    /// A closed-loop configuration against `target` with the command-line defaults
    /// (8 connections, 5 s, `GET /`, keep-alive, 30 s timeout, no progress display).
    pub fn new(target: impl Into<String>) -> Self {
        LoadConfig {
            target: target.into(),
            host: None,
            path: "/".into(),
            method: "GET".into(),
            headers: Vec::new(),
            body_bytes: 0,
            connections: 8,
            stop: Stop::default(),
            pacing: Pacing::default(),
            timeout: Duration::from_secs(30),
            keepalive: true,
            http10: false,
            max_requests_per_conn: None,
            flags_header: crate::DEFAULT_FLAGS_HEADER.into(),
            resolve: None,
            progress: false,
            seed: None,
            banner_timeout: None,
        }
    }

    /// Check the values that the types alone do not rule out.
    pub fn validate(&self) -> Result<(), LoadError> {
        if self.connections == 0 {
            return Err(LoadError::flag("--connections", 0, "must be at least 1"));
        }
        if let Pacing::Open { rate, .. } = self.pacing {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(LoadError::flag("--rate", rate, "must be a positive number"));
            }
        }
        if self.stop.duration.is_none() && self.stop.requests.is_none() {
            return Err(LoadError::flag(
                "--duration-ms",
                "none",
                "give a duration or --requests",
            ));
        }
        if self.max_requests_per_conn == Some(0) {
            return Err(LoadError::flag(
                "--max-requests-per-conn",
                0,
                "must be at least 1",
            ));
        }
        if self.banner_timeout.is_some_and(|t| t.is_zero()) {
            return Err(LoadError::flag(
                "--banner-timeout-ms",
                0,
                "must be at least 1",
            ));
        }
        if self.timeout.is_zero() {
            return Err(LoadError::flag("--timeout-ms", 0, "must be at least 1"));
        }
        if !self.path.starts_with('/') {
            return Err(LoadError::flag("--path", &self.path, "must start with '/'"));
        }
        if self.method.is_empty() || !self.method.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(LoadError::flag(
                "--method",
                &self.method,
                "must be a token like GET",
            ));
        }
        if let Some(ResolveConfig {
            mode: ResolveMode::Every(period),
            ..
        }) = &self.resolve
        {
            if period.is_zero() {
                return Err(LoadError::flag(
                    "--resolve-mode",
                    "every-ms:0",
                    "period must be > 0",
                ));
            }
        }
        Ok(())
    }

    /// The `Host` header value.
    pub fn host_header(&self) -> &str {
        self.host.as_deref().unwrap_or(&self.target)
    }
}

/// When a run ends: whichever limit comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stop {
    /// Start no request after this long (requests in flight finish).
    pub duration: Option<Duration>,
    /// Start no more than this many requests.
    pub requests: Option<u64>,
}

impl Default for Stop {
    /// Five seconds, no request limit.
    fn default() -> Self {
        Stop {
            duration: Some(Duration::from_secs(5)),
            requests: None,
        }
    }
}

/// How requests are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pacing {
    /// Each worker sends its next request after a pause of `think` ± uniform `jitter`
    /// following the previous response.
    Closed {
        /// Pause after each response.
        think: Duration,
        /// Uniform jitter around `think`.
        jitter: Duration,
    },
    /// `rate` requests per second in total, at intended times set in advance whatever the
    /// responses; latency is measured from the intended time, so queueing counts.
    Open {
        /// Requests per second over all workers.
        rate: f64,
        /// How the intended times are spaced.
        arrivals: Arrivals,
    },
}

/// The spacing of open-loop arrivals.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Arrivals {
    /// Evenly, `1/rate` apart.
    #[default]
    Uniform,
    /// A Poisson process: independent exponential gaps of mean `1/rate`, as the requests of
    /// many independent callers arrive.
    Poisson,
}

impl Default for Pacing {
    /// Closed loop without think time.
    fn default() -> Self {
        Pacing::Closed {
            think: Duration::ZERO,
            jitter: Duration::ZERO,
        }
    }
}

/// DNS-resolving mode: resolve `name` (via `dns`, else the system's resolver), then send
/// `x-envoy-original-dst-host: IP:upstream_port` to the target, or connect to that address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveConfig {
    /// Name whose A records are looked up.
    pub name: String,
    /// The one DNS server asked (UDP); `None` asks the system's resolver (`getaddrinfo`).
    pub dns: Option<SocketAddr>,
    /// Port of the resolved address.
    pub upstream_port: u16,
    /// When the name is looked up again.
    pub mode: ResolveMode,
    /// Connect to the resolved address instead of the target (no header).
    pub connect: bool,
}

/// When the app looks the name up again. Written `once`, `per-connection` or `every-ms:N`
/// (on the command line and in scenario files alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ResolveMode {
    /// Once at start, cached for the whole run (a typical JVM app).
    Once,
    /// Before opening each new connection.
    PerConnection,
    /// Every period; new connections use the new address and connections to an
    /// old address are closed.
    Every(Duration),
}

impl std::fmt::Display for ResolveMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResolveMode::Once => f.write_str("once"),
            ResolveMode::PerConnection => f.write_str("per-connection"),
            ResolveMode::Every(period) => write!(f, "every-ms:{}", period.as_millis()),
        }
    }
}

impl TryFrom<String> for ResolveMode {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse().map_err(|e| format!("{s:?}: {e}"))
    }
}

impl From<ResolveMode> for String {
    fn from(mode: ResolveMode) -> String {
        mode.to_string()
    }
}

impl FromStr for ResolveMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "once" => Ok(ResolveMode::Once),
            "per-connection" => Ok(ResolveMode::PerConnection),
            _ => {
                let ms = s
                    .strip_prefix("every-ms:")
                    .ok_or("expected once, per-connection or every-ms:N")?;
                match ms.parse::<u64>() {
                    Ok(ms) if ms > 0 => Ok(ResolveMode::Every(Duration::from_millis(ms))),
                    _ => Err(format!(
                        "every-ms:N needs a positive integer N (ms), got '{ms}'"
                    )),
                }
            }
        }
    }
}

/// Parse a `K: V` request header.
pub(crate) fn parse_header(s: &str) -> Result<(String, String), String> {
    let (name, value) = s.split_once(':').ok_or("expected 'Name: value'")?;
    let name = name.trim();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("bad header name '{name}'"));
    }
    let value = value.trim();
    if value.bytes().any(|b| b == b'\r' || b == b'\n') {
        return Err("header value must not contain a line break".into());
    }
    Ok((name.to_string(), value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_modes_parse() {
        assert_eq!("once".parse(), Ok(ResolveMode::Once));
        assert_eq!("per-connection".parse(), Ok(ResolveMode::PerConnection));
        assert_eq!(
            "every-ms:250".parse(),
            Ok(ResolveMode::Every(Duration::from_millis(250)))
        );
        assert!("every-ms:x"
            .parse::<ResolveMode>()
            .unwrap_err()
            .contains("'x'"));
        assert!("sometimes".parse::<ResolveMode>().is_err());
        for mode in ["once", "per-connection", "every-ms:250"] {
            assert_eq!(mode.parse::<ResolveMode>().unwrap().to_string(), mode);
        }
        let e = serde_json::from_str::<ResolveMode>("\"evry-ms:1000\"").unwrap_err();
        assert!(e.to_string().contains("evry-ms:1000"), "{e}");
    }

    #[test]
    fn headers_parse() {
        assert_eq!(parse_header("X-A:  b c "), Ok(("X-A".into(), "b c".into())));
        assert!(parse_header("no colon").is_err());
        assert!(parse_header(": v").is_err());
    }

    #[test]
    fn zero_rate_is_rejected_naming_the_flag() {
        let mut config = LoadConfig::new("127.0.0.1:1");
        config.pacing = Pacing::Open {
            rate: 0.0,
            arrivals: Arrivals::Uniform,
        };
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("--rate"));
    }
}
