//! The pod and Service settings that decide how istiod speaks to an app: the Service port's
//! name and `appProtocol` (the protocol istiod reads off them) and the sidecar's proxy
//! metadata.

use serde::{Deserialize, Serialize};

/// The Kubernetes Service port of the app, as far as istiod reads it: its `name` and
/// `appProtocol` (`topology.service_port`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServicePort {
    /// The port's name; its prefix before `-` names the protocol (`http`, `http2-web`).
    #[serde(default = "http")]
    pub name: String,
    /// `appProtocol`, which wins over the name when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
}

fn http() -> String {
    "http".into()
}

impl Default for ServicePort {
    fn default() -> Self {
        Self {
            name: http(),
            app_protocol: None,
        }
    }
}

/// The protocol istiod gives a service port, of those the lab renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortProtocol {
    /// `http`: HTTP/1.1 to the app.
    Http,
    /// `http2`, `grpc`, `grpc-web`, appProtocol `kubernetes.io/h2c`: HTTP/2 clusters, to the
    /// app too.
    Http2,
    /// `tcp`, `mysql`, `mongo`, `redis`, `tls`, `https`, or an unnamed port on a well-known
    /// port (25, 53, 3306, 27017): a TCP proxy, no sniffing.
    Tcp,
    /// Any other name (`web`, none): istiod's `UnsupportedProtocol`, rendered as protocol
    /// sniffing (`ListenerProtocolAuto`).
    Auto,
}

/// Ports istiod treats as TCP when their name names no protocol: "applications bound to
/// these ports will be broken if protocol sniffing is enabled" (SMTP, DNS, MySQL, MongoDB;
/// pkg/config/kube/conversion.go@1.24.0 L27-39, L87-91).
const WELL_KNOWN_PORTS: [u16; 4] = [25, 53, 3306, 27017];

impl ServicePort {
    /// The protocol istiod reads off this port, as `ConvertProtocol` does
    /// (pkg/config/kube/conversion.go@1.24.0 L48-93: `appProtocol` first, then the name's
    /// prefix before `-`, case-insensitive; `grpc-web` before the prefix rule; a name that
    /// names no protocol is TCP on a well-known `port`, else sniffed), or why the lab does
    /// not render it.
    pub fn protocol(&self, port: u16) -> Result<PortProtocol, String> {
        let name = self.app_protocol.as_deref().unwrap_or(&self.name);
        if name == "kubernetes.io/h2c" && self.app_protocol.is_some() {
            return Ok(PortProtocol::Http2);
        }
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("grpc-web") {
            return Ok(PortProtocol::Http2);
        }
        let prefix = lower.split('-').next().unwrap_or_default();
        // The names protocol.Parse knows (pkg/config/protocol/instance.go@1.24.0 L65-94); http2 and grpc
        // are `IsHTTP2` (L96-104).
        match prefix {
            "http" | "http_proxy" => Ok(PortProtocol::Http),
            "http2" | "grpc" => Ok(PortProtocol::Http2),
            "tcp" | "mysql" | "mongo" | "redis" | "tls" | "https" => Ok(PortProtocol::Tcp),
            "udp" => Err(format!(
                "{name:?} names protocol \"udp\"; the lab renders TCP ports only"
            )),
            _ if WELL_KNOWN_PORTS.contains(&port) => Ok(PortProtocol::Tcp),
            _ => Ok(PortProtocol::Auto),
        }
    }
}

/// ProxyConfig `proxyMetadata` of the pods' sidecars (the `proxy.istio.io/config` annotation;
/// pilot-agent exports each `ISTIO_META_*` as node metadata to istiod).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyMetadata {
    /// `ISTIO_META_HTTP10: "1"`: istiod sets `accept_http_10` on the sidecar's HTTP
    /// listeners, inbound and outbound (pkg/model/proxy.go@1.24.0 L278-281).
    #[serde(
        rename = "ISTIO_META_HTTP10",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub http10: Option<String>,
}

impl ProxyMetadata {
    /// Whether istiod lets this sidecar accept HTTP/1.0: only the value `"1"` counts
    /// (`enableHTTP10`, core/listener.go@1.24.0 L251-254;
    /// v1alpha3/listener.go@1.2.0 L281, L1005).
    pub fn accepts_http10(&self) -> bool {
        self.http10.as_deref() == Some("1")
    }

    /// Whether any metadata is set.
    pub fn is_empty(&self) -> bool {
        self.http10.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(name: &str, app: Option<&str>) -> ServicePort {
        ServicePort {
            name: name.into(),
            app_protocol: app.map(Into::into),
        }
    }

    #[test]
    fn the_protocol_comes_from_app_protocol_then_the_name_prefix() {
        let on_80 = |name: &str, app: Option<&str>| port(name, app).protocol(80);
        assert_eq!(on_80("http", None), Ok(PortProtocol::Http));
        assert_eq!(on_80("HTTP-web", None), Ok(PortProtocol::Http));
        assert_eq!(on_80("http2-app", None), Ok(PortProtocol::Http2));
        assert_eq!(on_80("grpc", None), Ok(PortProtocol::Http2));
        assert_eq!(on_80("grpc-web-x", None), Ok(PortProtocol::Http2));
        assert_eq!(on_80("grpc", Some("http")), Ok(PortProtocol::Http));
        assert_eq!(
            on_80("web", Some("kubernetes.io/h2c")),
            Ok(PortProtocol::Http2)
        );
        assert_eq!(on_80("tcp-db", None), Ok(PortProtocol::Tcp));
        assert_eq!(on_80("mysql", None), Ok(PortProtocol::Tcp));
        assert_eq!(on_80("web", Some("tcp")), Ok(PortProtocol::Tcp));
        let err = on_80("udp-dns", None).unwrap_err();
        assert!(err.contains("\"udp\""), "{err}");
    }

    #[test]
    fn a_port_named_after_no_protocol_is_sniffed_unless_well_known() {
        assert_eq!(port("web", None).protocol(80), Ok(PortProtocol::Auto));
        assert_eq!(port("", None).protocol(80), Ok(PortProtocol::Auto));
        assert_eq!(port("smtp", None).protocol(2525), Ok(PortProtocol::Auto));
        assert_eq!(port("smtp", None).protocol(25), Ok(PortProtocol::Tcp));
        assert_eq!(port("", None).protocol(3306), Ok(PortProtocol::Tcp));
        // A name that names a protocol wins over the well-known port.
        assert_eq!(port("http", None).protocol(3306), Ok(PortProtocol::Http));
    }

    #[test]
    fn only_http10_1_accepts_http10() {
        let meta = |v: &str| ProxyMetadata {
            http10: Some(v.into()),
        };
        assert!(meta("1").accepts_http10());
        assert!(!meta("true").accepts_http10());
        assert!(!ProxyMetadata::default().accepts_http10());
    }
}
