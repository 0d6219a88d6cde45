//! The request bytes, built once per run (or once per connection in DNS-resolving mode).

use std::net::SocketAddr;
use std::sync::Arc;

use crate::LoadConfig;

/// Header Envoy's `ORIGINAL_DST` cluster reads the upstream address from.
pub(crate) const ORIGINAL_DST_HEADER: &str = "x-envoy-original-dst-host";

/// Pre-rendered HTTP/1.1 (or HTTP/1.0) request, completed with the per-connection original-dst header.
#[derive(Debug)]
pub(crate) struct RequestTemplate {
    /// Request line and headers, without the blank line.
    head: Vec<u8>,
    /// Blank line and body.
    tail: Vec<u8>,
    /// The rendering without an original-dst header, shared by every connection.
    plain: Arc<[u8]>,
}

impl RequestTemplate {
    /// Render the request `config` describes.
    pub(crate) fn new(config: &LoadConfig) -> Self {
        let mut head = Vec::with_capacity(256);
        let mut push = |parts: &[&str]| {
            for part in parts {
                head.extend_from_slice(part.as_bytes());
            }
            head.extend_from_slice(b"\r\n");
        };
        let version = if config.http10 {
            "HTTP/1.0"
        } else {
            "HTTP/1.1"
        };
        push(&[&config.method, " ", &config.path, " ", version]);
        push(&["Host: ", config.host_header()]);
        let has = |name: &str| {
            config
                .headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case(name))
        };
        if !has("user-agent") {
            push(&["User-Agent: mesh5xx-loadgen/", env!("CARGO_PKG_VERSION")]);
        }
        for (name, value) in &config.headers {
            push(&[name, ": ", value]);
        }
        // Each version's default is the other way round: HTTP/1.1 keeps the connection
        // unless told to close it, HTTP/1.0 closes it unless told to keep it (RFC 9112 §9.3).
        match (config.http10, config.keepalive) {
            (false, false) => push(&["Connection: close"]),
            (true, true) => push(&["Connection: keep-alive"]),
            _ => {}
        }
        let sends_body =
            config.body_bytes > 0 || matches!(config.method.as_str(), "POST" | "PUT" | "PATCH");
        if sends_body && !has("content-length") {
            push(&["Content-Length: ", &config.body_bytes.to_string()]);
        }
        let mut tail = b"\r\n".to_vec();
        tail.resize(2 + config.body_bytes, b'x');
        let plain = [head.as_slice(), tail.as_slice()].concat().into();
        RequestTemplate { head, tail, plain }
    }

    /// The bytes to send on a connection whose original destination is `dst`.
    pub(crate) fn render(&self, dst: Option<SocketAddr>) -> Arc<[u8]> {
        let Some(dst) = dst else {
            return Arc::clone(&self.plain);
        };
        let line = format!("{ORIGINAL_DST_HEADER}: {dst}\r\n");
        [self.head.as_slice(), line.as_bytes(), self.tail.as_slice()]
            .concat()
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_headers_body_and_original_dst() {
        let mut config = LoadConfig::new("127.0.0.1:80");
        config.method = "POST".into();
        config.host = Some("srv-a.xyz".into());
        config.headers = vec![("X-A".into(), "1".into())];
        config.body_bytes = 3;
        config.keepalive = false;
        let template = RequestTemplate::new(&config);
        let text = String::from_utf8(template.render(None).to_vec()).unwrap();
        let version = env!("CARGO_PKG_VERSION");
        assert_eq!(
            text,
            format!(
                "POST / HTTP/1.1\r\nHost: srv-a.xyz\r\nUser-Agent: mesh5xx-loadgen/{version}\r\n\
                 X-A: 1\r\nConnection: close\r\nContent-Length: 3\r\n\r\nxxx"
            )
        );
        let dst = template.render(Some("10.0.0.7:80".parse().unwrap()));
        let text = String::from_utf8(dst.to_vec()).unwrap();
        assert!(text.contains("\r\nx-envoy-original-dst-host: 10.0.0.7:80\r\n\r\nxxx"));
    }

    #[test]
    fn http10_requests_ask_for_keep_alive_only_when_kept() {
        let mut config = LoadConfig::new("127.0.0.1:80");
        config.http10 = true;
        config.keepalive = false;
        let text = String::from_utf8(RequestTemplate::new(&config).render(None).to_vec()).unwrap();
        assert!(text.starts_with("GET / HTTP/1.0\r\n"), "{text}");
        assert!(!text.to_ascii_lowercase().contains("connection:"), "{text}");
        config.keepalive = true;
        let text = String::from_utf8(RequestTemplate::new(&config).render(None).to_vec()).unwrap();
        assert!(text.contains("\r\nConnection: keep-alive\r\n"), "{text}");
    }
}
