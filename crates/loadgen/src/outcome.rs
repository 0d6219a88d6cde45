//! What one request attempt ended with: a response (status + Envoy response flags)
//! or a transport error of a known kind.

use std::fmt;
use std::io;

use serde::{Deserialize, Serialize};

/// Why an attempt got no HTTP response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportErrorKind {
    /// The target refused the connection (nothing listening).
    ConnectRefused,
    /// Connecting took longer than the request timeout.
    ConnectTimeout,
    /// Connecting failed otherwise (unreachable, no route...).
    ConnectOther,
    /// The peer reset the connection (RST) while the request was sent or awaited.
    Reset,
    /// The peer closed the connection (FIN) before a complete response arrived.
    ClosedBeforeResponse,
    /// No complete response within the request timeout.
    Timeout,
    /// The DNS lookup of `--resolve` failed.
    Dns,
    /// A server-first exchange (`--banner-timeout-ms`): the server's banner did not arrive
    /// within the banner timeout.
    NoBanner,
    /// Anything else (malformed response, local I/O error).
    Other,
}

impl TransportErrorKind {
    /// Every kind, in report order.
    pub const ALL: [TransportErrorKind; 9] = [
        TransportErrorKind::ConnectRefused,
        TransportErrorKind::ConnectTimeout,
        TransportErrorKind::ConnectOther,
        TransportErrorKind::Reset,
        TransportErrorKind::ClosedBeforeResponse,
        TransportErrorKind::Timeout,
        TransportErrorKind::Dns,
        TransportErrorKind::NoBanner,
        TransportErrorKind::Other,
    ];

    /// The name used in reports, e.g. `closed_before_response`.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportErrorKind::ConnectRefused => "connect_refused",
            TransportErrorKind::ConnectTimeout => "connect_timeout",
            TransportErrorKind::ConnectOther => "connect_other",
            TransportErrorKind::Reset => "reset",
            TransportErrorKind::ClosedBeforeResponse => "closed_before_response",
            TransportErrorKind::Timeout => "timeout",
            TransportErrorKind::Dns => "dns",
            TransportErrorKind::NoBanner => "no_banner",
            TransportErrorKind::Other => "other",
        }
    }

    /// Classify a failed connect.
    pub(crate) fn of_connect(err: &io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::ConnectionRefused => TransportErrorKind::ConnectRefused,
            io::ErrorKind::TimedOut => TransportErrorKind::ConnectTimeout,
            _ => TransportErrorKind::ConnectOther,
        }
    }

    /// Classify an I/O error on an established connection.
    pub(crate) fn of_io(err: &io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => TransportErrorKind::Reset,
            io::ErrorKind::UnexpectedEof => TransportErrorKind::ClosedBeforeResponse,
            io::ErrorKind::TimedOut => TransportErrorKind::Timeout,
            _ => TransportErrorKind::Other,
        }
    }
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The value of the response-flags header, kept inline (no allocation per response).
///
/// Longer values are truncated to [`FlagText::CAPACITY`] bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct FlagText {
    len: u8,
    bytes: [u8; FlagText::CAPACITY],
}

impl FlagText {
    /// Longest value kept.
    pub(crate) const CAPACITY: usize = 47;
    /// Envoy's "no flag" value, also used when the header is absent.
    pub(crate) const NONE: FlagText = FlagText::from_static(b"-");

    const fn from_static(value: &[u8]) -> Self {
        let mut bytes = [0; FlagText::CAPACITY];
        let mut i = 0;
        while i < value.len() {
            bytes[i] = value[i];
            i += 1;
        }
        FlagText {
            len: value.len() as u8,
            bytes,
        }
    }

    /// The (trimmed, possibly truncated) header value.
    pub(crate) fn new(value: &[u8]) -> Self {
        let value = value.trim_ascii();
        if value.is_empty() {
            return FlagText::NONE;
        }
        let len = value.len().min(FlagText::CAPACITY);
        let mut bytes = [0; FlagText::CAPACITY];
        bytes[..len].copy_from_slice(&value[..len]);
        FlagText {
            len: len as u8,
            bytes,
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// `false` for `-` (a response Envoy did not flag).
    pub(crate) fn is_error_flag(&self) -> bool {
        *self != FlagText::NONE
    }

    pub(crate) fn to_string_lossy(self) -> String {
        String::from_utf8_lossy(self.as_bytes()).into_owned()
    }
}

impl fmt::Debug for FlagText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// One finished attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// An HTTP response arrived.
    Response {
        /// Status code.
        status: u16,
        /// Value of the response-flags header (`-` when absent).
        flag: FlagText,
    },
    /// No response.
    Transport(TransportErrorKind),
    /// A server-first exchange completed: banner, line, answer.
    Answered,
}

impl Outcome {
    /// A 5xx response or a transport error.
    pub(crate) fn is_error(&self) -> bool {
        match self {
            Outcome::Response { status, .. } => *status >= 500,
            Outcome::Transport(_) => true,
            Outcome::Answered => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_listed_in_discriminant_order() {
        for (i, kind) in TransportErrorKind::ALL.into_iter().enumerate() {
            assert_eq!(kind as usize, i, "{kind}");
        }
    }

    #[test]
    fn flag_values_are_trimmed_and_dash_is_no_error() {
        assert_eq!(FlagText::new(b" UC ").as_bytes(), b"UC");
        assert_eq!(FlagText::new(b""), FlagText::NONE);
        assert!(!FlagText::new(b"-").is_error_flag());
        assert!(FlagText::new(b"URX,UC").is_error_flag());
        assert_eq!(
            FlagText::new(&[b'U'; 60]).as_bytes().len(),
            FlagText::CAPACITY
        );
    }
}
