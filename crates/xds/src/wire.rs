//! What travels on an ADS stream: the discovery messages (typed, with the field numbers of
//! `envoy/service/discovery/v3/discovery.proto`) and gRPC's length-prefixed framing.
//!
//! Only the fields the control plane reads or writes are declared; protobuf skips the rest.
//! A test decodes these structs with the schema's own descriptors, so a wrong tag fails.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Any {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "bytes", tag = "2")]
    pub value: Bytes,
}

/// `google.rpc.Status`: why Envoy rejected a response (a NACK).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Status {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

/// `envoy.config.core.v3.Node`: who is asking (`sidecar~IP~POD.NS~NS.svc.cluster.local`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Node {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, tag = "2")]
    pub cluster: String,
}

/// `envoy.service.discovery.v3.DiscoveryRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DiscoveryRequest {
    /// The version of the last response Envoy accepted (empty before the first).
    #[prost(string, tag = "1")]
    pub version_info: String,
    /// Set on the first request of a stream.
    #[prost(message, optional, tag = "2")]
    pub node: Option<Node>,
    /// The resources wanted (EDS clusters, RDS route configurations); empty: all.
    #[prost(string, repeated, tag = "3")]
    pub resource_names: Vec<String>,
    #[prost(string, tag = "4")]
    pub type_url: String,
    /// The nonce of the response this request answers (empty: a new subscription).
    #[prost(string, tag = "5")]
    pub response_nonce: String,
    /// Set when Envoy rejected that response.
    #[prost(message, optional, tag = "6")]
    pub error_detail: Option<Status>,
}

/// `envoy.service.discovery.v3.DiscoveryResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DiscoveryResponse {
    #[prost(string, tag = "1")]
    pub version_info: String,
    #[prost(message, repeated, tag = "2")]
    pub resources: Vec<Any>,
    #[prost(string, tag = "4")]
    pub type_url: String,
    #[prost(string, tag = "5")]
    pub nonce: String,
}

/// `envoy.service.discovery.v3.DeltaDiscoveryRequest`: incremental ADS.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DeltaDiscoveryRequest {
    /// Set on the first request of a stream.
    #[prost(message, optional, tag = "1")]
    pub node: Option<Node>,
    #[prost(string, tag = "2")]
    pub type_url: String,
    /// Names added to the subscription (CDS/LDS: empty or `*`, everything).
    #[prost(string, repeated, tag = "3")]
    pub resource_names_subscribe: Vec<String>,
    /// Names dropped from it.
    #[prost(string, repeated, tag = "4")]
    pub resource_names_unsubscribe: Vec<String>,
    /// On a new stream: the resources Envoy already has, by name, at the version it was sent.
    #[prost(map = "string, string", tag = "5")]
    pub initial_resource_versions: std::collections::HashMap<String, String>,
    /// The nonce of the response this request answers (empty: a change of subscription).
    #[prost(string, tag = "6")]
    pub response_nonce: String,
    /// Set when Envoy rejected that response.
    #[prost(message, optional, tag = "7")]
    pub error_detail: Option<Status>,
}

/// `envoy.service.discovery.v3.Resource`: one resource of a delta response.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Resource {
    /// Its version, which Envoy hands back in `initial_resource_versions` on a new stream.
    #[prost(string, tag = "1")]
    pub version: String,
    #[prost(message, optional, tag = "2")]
    pub resource: Option<Any>,
    #[prost(string, tag = "3")]
    pub name: String,
}

/// `envoy.service.discovery.v3.DeltaDiscoveryResponse`: the resources added or changed, and
/// the names of those removed.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DeltaDiscoveryResponse {
    #[prost(string, tag = "1")]
    pub system_version_info: String,
    #[prost(message, repeated, tag = "2")]
    pub resources: Vec<Resource>,
    #[prost(string, tag = "4")]
    pub type_url: String,
    #[prost(string, tag = "5")]
    pub nonce: String,
    #[prost(string, repeated, tag = "6")]
    pub removed_resources: Vec<String>,
}

/// A gRPC message frame that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("compressed gRPC messages are not accepted (flag {0})")]
    Compressed(u8),
    #[error("gRPC message of {0} bytes exceeds the {MAX_MESSAGE} byte limit")]
    TooLarge(usize),
    #[error("the stream ended inside a gRPC message ({0} bytes left over)")]
    Truncated(usize),
    #[error("undecodable {what}: {reason}")]
    Decode { what: &'static str, reason: String },
}

/// The largest message accepted from a sidecar (gRPC's default receive limit).
pub const MAX_MESSAGE: usize = 4 * 1024 * 1024;

/// `message` as one gRPC frame: flag 0 (uncompressed), 4-byte big-endian length, bytes.
pub fn frame(message: &impl prost::Message) -> Bytes {
    let len = message.encoded_len();
    let mut buf = BytesMut::with_capacity(5 + len);
    buf.put_u8(0);
    buf.put_u32(u32::try_from(len).expect("a message under 4 GiB"));
    message.encode(&mut buf).expect("BytesMut grows");
    buf.freeze()
}

/// Collects the bytes of a request body and cuts them into gRPC messages.
#[derive(Debug, Default)]
pub struct Deframer {
    buf: BytesMut,
}

impl Deframer {
    /// Add bytes as they arrive.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next whole message, if one has arrived.
    pub fn next<M: prost::Message + Default>(
        &mut self,
        what: &'static str,
    ) -> Result<Option<M>, FrameError> {
        if self.buf.len() < 5 {
            return Ok(None);
        }
        let flag = self.buf[0];
        if flag != 0 {
            return Err(FrameError::Compressed(flag));
        }
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
        if len > MAX_MESSAGE {
            return Err(FrameError::TooLarge(len));
        }
        if self.buf.len() < 5 + len {
            return Ok(None);
        }
        self.buf.advance(5);
        let body = self.buf.split_to(len);
        M::decode(body.freeze())
            .map(Some)
            .map_err(|e| FrameError::Decode {
                what,
                reason: e.to_string(),
            })
    }

    /// At the end of the stream: an error if a partial message is left.
    pub fn finish(&self) -> Result<(), FrameError> {
        match self.buf.len() {
            0 => Ok(()),
            n => Err(FrameError::Truncated(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_in_pieces() {
        let req = DiscoveryRequest {
            version_info: "v1".into(),
            node: Some(Node {
                id: "sidecar~127.0.0.1~client.default~default.svc.cluster.local".into(),
                cluster: "client".into(),
            }),
            resource_names: vec!["outbound|80||srv-a.default.svc.cluster.local".into()],
            type_url: crate::TypeUrl::Endpoint.url(),
            response_nonce: "n1".into(),
            error_detail: None,
        };
        let bytes = [frame(&req), frame(&req)].concat();
        let mut d = Deframer::default();
        let mut got = Vec::new();
        for chunk in bytes.chunks(7) {
            d.push(chunk);
            while let Some(m) = d.next::<DiscoveryRequest>("request").unwrap() {
                got.push(m);
            }
        }
        assert_eq!(got, vec![req.clone(), req]);
        d.finish().unwrap();
    }

    #[test]
    fn bad_frames_say_what_is_wrong() {
        let mut d = Deframer::default();
        d.push(&[1, 0, 0, 0, 1, 0]);
        assert_eq!(
            d.next::<DiscoveryRequest>("request").unwrap_err(),
            FrameError::Compressed(1)
        );
        let mut d = Deframer::default();
        d.push(&[0, 0xff, 0, 0, 0]);
        assert!(matches!(
            d.next::<DiscoveryRequest>("request"),
            Err(FrameError::TooLarge(_))
        ));
        let mut d = Deframer::default();
        d.push(&[0, 0, 0, 0, 3, 0xff, 0xff, 0xff]);
        let e = d.next::<DiscoveryRequest>("request").unwrap_err();
        assert!(e.to_string().starts_with("undecodable request"), "{e}");
        let mut d = Deframer::default();
        d.push(&[0, 0, 0, 0, 9, 1]);
        assert_eq!(d.next::<DiscoveryRequest>("request").unwrap(), None);
        assert_eq!(d.finish().unwrap_err(), FrameError::Truncated(6));
    }
}
