//! A listener port known before the listener exists. In a pod, the app reaches its
//! sidecar's outbound listener through iptables on a port fixed by Istio (15001), whether or
//! not Envoy listens yet; in the lab the sidecar's listener binds a port the kernel chose
//! ([`ReservedPort::new`], port 0) and reserved until Envoy takes it over. Until then a
//! connection to it is refused, as it is in a pod whose sidecar has no listener yet.

use std::net::SocketAddr;

use serde_json::Value;
use tokio::net::TcpSocket;

/// A port bound (port 0, `SO_REUSEPORT`) but not listening: connecting to it is refused,
/// the kernel hands it to no other port-0 bind or connect, and an Envoy listener rendered
/// with `enable_reuse_port` on the same address ([`ReservedPort::pin`]) shares it.
pub struct ReservedPort {
    /// Held for its binding only.
    _socket: TcpSocket,
    addr: SocketAddr,
}

impl ReservedPort {
    /// Reserve a port on 127.0.0.1.
    pub fn new() -> std::io::Result<Self> {
        Self::at(SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Reserve `addr` (an IPv4 address), a port no socket holds any longer: an app
    /// container's port between its crash and its restart.
    pub fn at(addr: SocketAddr) -> std::io::Result<Self> {
        let socket = TcpSocket::new_v4()?;
        socket.set_reuseaddr(true)?;
        socket.set_reuseport(true)?;
        socket.bind(addr)?;
        let addr = socket.local_addr()?;
        Ok(Self {
            _socket: socket,
            addr,
        })
    }

    /// The reserved address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Make listener `name` of the rendered bootstrap `config` bind the reserved address
    /// (sharing it with the reservation, which never accepts). Returns `false` when `config`
    /// has no such listener.
    pub fn pin(&self, config: &mut Value, name: &str) -> bool {
        let Some(listener) = config["static_resources"]["listeners"]
            .as_array_mut()
            .and_then(|ls| ls.iter_mut().find(|l| l["name"] == name))
        else {
            return false;
        };
        listener["address"]["socket_address"]["address"] = self.addr.ip().to_string().into();
        listener["address"]["socket_address"]["port_value"] = self.addr.port().into();
        listener["enable_reuse_port"] = true.into();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn a_reserved_port_refuses_connections_and_blocks_other_binds() {
        let port = ReservedPort::new().unwrap();
        let err = tokio::net::TcpStream::connect(port.addr())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
        // A socket without the reuse options cannot bind it (and neither does the kernel
        // hand it out for a port-0 bind or a connect).
        let other = TcpSocket::new_v4().unwrap();
        assert!(other.bind(port.addr()).is_err());
    }

    #[test]
    fn pin_binds_the_named_listener_to_the_reserved_address() {
        let port = ReservedPort::new().unwrap();
        let mut config = json!({"static_resources": {"listeners": [
            {"name": "virtualInbound", "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
            {"name": "0.0.0.0_80", "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}}
        ]}});
        assert!(port.pin(&mut config, "0.0.0.0_80"));
        let l = &config["static_resources"]["listeners"][1];
        assert_eq!(
            l["address"]["socket_address"]["port_value"],
            port.addr().port()
        );
        assert_eq!(l["enable_reuse_port"], true);
        assert_eq!(
            config["static_resources"]["listeners"][0]["address"]["socket_address"]["port_value"],
            0
        );
        assert!(!port.pin(&mut config, "nope"));
    }
}
