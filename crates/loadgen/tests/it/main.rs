//! Integration tests of the load generator against small real servers (port 0, no mocks).

mod support;

mod cli;
mod connections;
mod counts;
mod dns;
mod open_loop;
mod report;
mod server_first;

use std::net::SocketAddr;

use mesh5xx_loadgen::{LoadConfig, Stop};

/// A closed-loop configuration against `addr` that stops after `requests`.
pub fn requests(addr: SocketAddr, connections: usize, requests: u64) -> LoadConfig {
    let mut config = LoadConfig::new(addr.to_string());
    config.connections = connections;
    config.stop = Stop {
        duration: None,
        requests: Some(requests),
    };
    config
}
