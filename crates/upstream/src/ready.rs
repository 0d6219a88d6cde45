//! The READY line of `mesh5xx upstream`.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// What `mesh5xx upstream` announces once it listens, as the JSON of its READY line:
/// `MESH5XX-READY {"addr":"127.0.0.1:41234","pid":1234}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ready {
    /// The address it listens on (with the port picked when asked for port 0).
    pub addr: SocketAddr,
    /// Its process id.
    pub pid: u32,
}

impl Ready {
    /// The READY payload in `line`, or `None` when `line` is not an upstream's READY line.
    pub fn parse_line(line: &str) -> Option<Self> {
        serde_json::from_value(mesh5xx_process::parse_ready_line(line)?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ready_line_carries_addr_and_pid() {
        let ready = Ready {
            addr: SocketAddr::from(([127, 0, 0, 1], 41234)),
            pid: 7,
        };
        let json = serde_json::to_value(ready).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"addr": "127.0.0.1:41234", "pid": 7})
        );
        let line = format!("{}{json}", mesh5xx_process::READY_PREFIX);
        assert_eq!(Ready::parse_line(&line), Some(ready));
        assert_eq!(Ready::parse_line("listening"), None);
    }
}
