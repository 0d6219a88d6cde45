//! The ADS server: gRPC over HTTP/2 (hyper), one task per sidecar stream. A stream is state
//! of the world (`StreamAggregatedResources`, here) or incremental
//! (`DeltaAggregatedResources`, [`crate::delta`]); both share the connection's bookkeeping
//! ([`Conn`]) and the loop that reads requests and wakes on pushes ([`run`]).
//!
//! State of the world, per stream, as istiod's `StreamAggregatedResources` (istio/istio
//! `pilot/pkg/xds/ads.go@1.24.0`, `pilot/pkg/xds/xdsgen.go@1.24.0`):
//! - a request without a nonce subscribes (or re-subscribes) to a type and is answered with
//!   the current resources;
//! - a request carrying the nonce of the last response is an ACK, or a NACK when it has an
//!   `error_detail`: the NACK is recorded and nothing is resent (the sidecar keeps its last
//!   good configuration); an ACK that names other EDS/RDS resources is answered with them;
//! - a request with an older nonce is stale and ignored;
//! - on a push every subscribed type is sent in istiod's order, CDS → EDS → LDS → RDS, without
//!   waiting for ACKs in between; an endpoint-only push sends the ClusterLoadAssignments that
//!   changed. At most `throttle` sidecars are pushed at once (`PILOT_PUSH_THROTTLE`).

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Semaphore};

use crate::delta::DeltaStream;
use crate::mesh::Mesh;
use crate::record::{Event, Recorder};
use crate::resources::TypeUrl;
use crate::schema::Schema;
use crate::wire::{frame, Deframer, DiscoveryRequest, DiscoveryResponse, Node};

/// The state-of-the-world gRPC method.
pub const ADS_PATH: &str =
    "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";

/// The incremental gRPC method (`envoy/service/discovery/v3/ads.proto`).
pub const DELTA_ADS_PATH: &str =
    "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources";

/// What every stream shares.
pub struct Shared {
    pub schema: Schema,
    pub mesh: Mesh,
    pub recorder: Arc<Recorder>,
    /// Concurrent pushes (`PILOT_PUSH_THROTTLE`; 25 on 2 cores, `pilot/pkg/features/tuning.go@1.24.0` L39-56).
    pub throttle: Semaphore,
}

/// A response body fed frame by frame from a channel.
pub struct Body(mpsc::Receiver<Frame<Bytes>>);

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|f| f.map(Ok))
    }
}

type Tx = mpsc::Sender<Frame<Bytes>>;

/// Serve ADS on `listener` until `stop` turns true; then every connection is closed at once,
/// as when istiod goes away (the sidecars keep their last configuration).
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let Ok((tcp, _)) = accepted else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let shared = shared.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| handle(req, shared.clone()));
            let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tcp), svc);
            tokio::select! {
                _ = conn => {}
                _ = stop.changed() => {}
            }
        });
    }
}

async fn handle(req: Request<Incoming>, shared: Arc<Shared>) -> Result<Response<Body>, Infallible> {
    let (tx, rx) = mpsc::channel(16);
    let body = Body(rx);
    let grpc = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    let path = req.uri().path();
    if !grpc || (path != ADS_PATH && path != DELTA_ADS_PATH) {
        let what = format!("{} {}", req.method(), path);
        shared.recorder.record(Event::Rejected {
            what: what.clone(),
            reason: "not an ADS gRPC method".into(),
        });
        tokio::spawn(finish(tx, 12, format!("unimplemented: {what}")));
        return Ok(grpc_response(body));
    }
    let delta = path == DELTA_ADS_PATH;
    tokio::spawn(async move {
        let conn = Conn::new(shared, tx.clone(), delta);
        let body = req.into_body();
        let (code, message) = if delta {
            run(DeltaStream::new(conn), body).await
        } else {
            run(Stream::new(conn), body).await
        };
        finish(tx, code, message).await;
    });
    Ok(grpc_response(body))
}

fn grpc_response(body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::OK;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    r
}

/// End a gRPC response with its status in the trailers.
async fn finish(tx: Tx, code: u32, message: String) {
    let mut t = HeaderMap::new();
    t.insert("grpc-status", HeaderValue::from(code));
    if let Ok(v) = HeaderValue::from_str(&message.replace(['\r', '\n'], " ")) {
        t.insert("grpc-message", v);
    }
    let _ = tx.send(Frame::trailers(t)).await;
}

/// A gRPC status to end a stream with: code and message.
pub(crate) type End = (u32, String);

/// One sidecar's stream, whichever its protocol: who it is, where responses go, which push
/// it saw last, and its nonces.
pub(crate) struct Conn {
    pub shared: Arc<Shared>,
    tx: Tx,
    delta: bool,
    node: Option<String>,
    /// The last full push this stream sent.
    full_seen: u64,
    nonces: u64,
}

impl Conn {
    fn new(shared: Arc<Shared>, tx: Tx, delta: bool) -> Self {
        let full_seen = shared.mesh.pushed().full_seq;
        Self {
            shared,
            tx,
            delta,
            node: None,
            full_seen,
            nonces: 0,
        }
    }

    /// A request's sidecar and type. The node id is taken from the first request (recorded
    /// as connected), which must name it, else the stream ends; a type this control plane
    /// does not serve is recorded as rejected and gives `None`.
    pub fn identify(
        &mut self,
        node: Option<&Node>,
        type_url: &str,
        what: &str,
    ) -> Result<Option<(String, TypeUrl)>, End> {
        let node = self.node_of(node, what)?;
        match TypeUrl::parse(type_url) {
            Some(t) => Ok(Some((node, t))),
            None => {
                self.reject(what, format!("{node}: unknown type {type_url:?}"));
                Ok(None)
            }
        }
    }

    /// The stream's sidecar, named by its first request.
    fn node_of(&mut self, node: Option<&Node>, what: &str) -> Result<String, End> {
        if let Some(n) = &self.node {
            return Ok(n.clone());
        }
        let Some(id) = node.map(|n| n.id.clone()).filter(|id| !id.is_empty()) else {
            let why = "the first request of a stream names no node".to_string();
            self.reject(what, why.clone());
            return Err((3, why));
        };
        self.record(Event::Connected {
            node: id.clone(),
            delta: self.delta,
        });
        self.node = Some(id.clone());
        Ok(id)
    }

    /// The node id, once the first request named it.
    pub fn node(&self) -> Option<&str> {
        self.node.as_deref()
    }

    pub fn record(&self, event: Event) {
        self.shared.recorder.record(event);
    }

    pub fn reject(&self, what: &str, reason: String) {
        self.record(Event::Rejected {
            what: what.to_string(),
            reason,
        });
    }

    /// Whether the push just signalled is a full one (else endpoints only).
    fn take_push(&mut self) -> bool {
        let full_seq = self.shared.mesh.pushed().full_seq;
        let full = full_seq > self.full_seen;
        self.full_seen = full_seq;
        full
    }

    /// A fresh nonce for a response of type `t` at mesh version `version`.
    pub fn nonce(&mut self, version: &str, t: TypeUrl) -> String {
        self.nonces += 1;
        format!("{version}-{}-{}", t.short(), self.nonces)
    }

    /// Send one message; false if the sidecar is gone.
    pub async fn send(&self, message: &impl prost::Message) -> bool {
        self.tx.send(Frame::data(frame(message))).await.is_ok()
    }
}

/// What a stream does with a request and with a push.
pub(crate) trait Protocol {
    type Request: prost::Message + Default;
    /// The request message's name, for errors.
    const REQUEST: &'static str;
    fn conn(&mut self) -> &mut Conn;
    /// Handle one request; an error ends the stream with that gRPC status.
    async fn on_request(&mut self, req: Self::Request) -> Result<(), End>;
    /// A push (`full`: everything recomputed; else endpoints only).
    async fn on_push(&mut self, full: bool);
}

/// Serve a stream: requests as they arrive, pushes as the mesh signals them; returns the gRPC
/// status to end it with.
async fn run<P: Protocol>(mut p: P, mut body: Incoming) -> End {
    let mut deframer = Deframer::default();
    let mut signal = p.conn().shared.mesh.signal.clone();
    let end = loop {
        tokio::select! {
            frame = body.frame() => match frame {
                None => break (0, "stream closed by the sidecar".to_string()),
                Some(Err(e)) => break (14, format!("stream broken: {e}")),
                Some(Ok(f)) => {
                    let Ok(data) = f.into_data() else { continue };
                    deframer.push(&data);
                    loop {
                        match deframer.next::<P::Request>(P::REQUEST) {
                            Ok(Some(req)) => {
                                if let Err(end) = p.on_request(req).await {
                                    return end;
                                }
                            }
                            Ok(None) => break,
                            Err(e) => {
                                p.conn().reject("ADS stream", e.to_string());
                                return (3, e.to_string());
                            }
                        }
                    }
                    if p.conn().tx.is_closed() {
                        break (1, "the response stream is gone".to_string());
                    }
                }
            },
            changed = signal.changed() => {
                if changed.is_err() {
                    break (14, "control plane stopping".to_string());
                }
                let full = p.conn().take_push();
                let shared = p.conn().shared.clone();
                let _permit = shared.throttle.acquire().await;
                p.on_push(full).await;
            }
        }
    };
    let conn = p.conn();
    if let Some(node) = conn.node.clone() {
        conn.record(Event::Disconnected {
            node,
            reason: end.1.clone(),
        });
    }
    end
}

/// What one sidecar subscribed to, and what it was last sent, per type.
#[derive(Debug, Default)]
struct Subscription {
    /// EDS/RDS: the names asked for (CDS/LDS: everything).
    names: Vec<String>,
    /// The nonce of the last response.
    nonce: String,
    /// What the last responses carried, by resource name.
    sent: BTreeMap<String, Value>,
}

/// A state-of-the-world stream.
struct Stream {
    conn: Conn,
    subs: HashMap<TypeUrl, Subscription>,
}

impl Protocol for Stream {
    type Request = DiscoveryRequest;
    const REQUEST: &'static str = "DiscoveryRequest";

    fn conn(&mut self) -> &mut Conn {
        &mut self.conn
    }

    async fn on_request(&mut self, req: DiscoveryRequest) -> Result<(), End> {
        let Some((node, t)) =
            self.conn
                .identify(req.node.as_ref(), &req.type_url, Self::REQUEST)?
        else {
            return Ok(());
        };
        let sub = self.subs.entry(t).or_default();
        if !req.response_nonce.is_empty() {
            if req.response_nonce != sub.nonce {
                return Ok(()); // stale: an answer to an older response
            }
            if let Some(err) = &req.error_detail {
                self.conn.record(Event::Nack {
                    node,
                    type_url: t.short().into(),
                    nonce: req.response_nonce.clone(),
                    error: err.message.clone(),
                });
                return Ok(());
            }
            self.conn.record(Event::Ack {
                node,
                type_url: t.short().into(),
                version: req.version_info.clone(),
                nonce: req.response_nonce.clone(),
            });
            if t.is_state_of_the_world() || sub.names == req.resource_names {
                return Ok(());
            }
            // The sidecar wants other EDS clusters or route configurations.
            let new: Vec<String> = req
                .resource_names
                .iter()
                .filter(|n| !sub.names.contains(n))
                .cloned()
                .collect();
            sub.names = req.resource_names;
            sub.sent.retain(|k, _| sub.names.contains(k));
            if !new.is_empty() {
                self.respond(t, Some(&new)).await;
            }
            return Ok(());
        }
        sub.names = req.resource_names;
        sub.sent.clear();
        self.respond(t, None).await;
        Ok(())
    }

    /// Everything subscribed after a full push; the changed endpoints after an EDS one.
    async fn on_push(&mut self, full: bool) {
        for t in TypeUrl::ALL {
            if !self.subs.contains_key(&t) {
                continue;
            }
            if full {
                self.respond(t, None).await;
            } else if t == TypeUrl::Endpoint {
                self.respond_changed(t).await;
            }
        }
    }
}

impl Stream {
    fn new(conn: Conn) -> Self {
        Self {
            conn,
            subs: HashMap::new(),
        }
    }

    /// The resources of type `t` this sidecar should see (`only`: just these names).
    fn current(&self, t: TypeUrl, only: Option<&[String]>) -> Option<BTreeMap<String, Value>> {
        let node = self.conn.node()?;
        let p = self.conn.shared.mesh.pushed();
        let all = p.proxies.get(node)?.of(t);
        let sub = self.subs.get(&t)?;
        let wanted = |name: &String| {
            only.is_none_or(|o| o.contains(name))
                && (t.is_state_of_the_world() || sub.names.is_empty() || sub.names.contains(name))
        };
        Some(
            all.iter()
                .filter(|(n, _)| wanted(n))
                .map(|(n, v)| (n.clone(), v.clone()))
                .collect(),
        )
    }

    async fn respond_changed(&mut self, t: TypeUrl) {
        let Some(now) = self.current(t, None) else {
            return;
        };
        let sent = &self.subs[&t].sent;
        let changed: Vec<String> = now
            .iter()
            .filter(|(n, v)| sent.get(*n) != Some(*v))
            .map(|(n, _)| n.clone())
            .collect();
        if !changed.is_empty() {
            self.respond(t, Some(&changed)).await;
        }
    }

    /// Send type `t`'s resources (all, or `only` these). Nothing is sent to a sidecar the
    /// control plane has no configuration for yet: it waits, as for a slow istiod.
    async fn respond(&mut self, t: TypeUrl, only: Option<&[String]>) {
        let Some(resources) = self.current(t, only) else {
            return;
        };
        let node = self.conn.node().expect("a stream with a node").to_string();
        let version = self.conn.shared.mesh.pushed().version();
        let mut encoded = Vec::with_capacity(resources.len());
        for (name, r) in &resources {
            match self.conn.shared.schema.encode(t.message(), name, r) {
                Ok(any) => encoded.push(any),
                Err(e) => {
                    self.conn
                        .reject(&format!("{node} {}", t.short()), e.to_string());
                    return;
                }
            }
        }
        let nonce = self.conn.nonce(&version, t);
        let resp = DiscoveryResponse {
            version_info: version.clone(),
            resources: encoded,
            type_url: t.url(),
            nonce: nonce.clone(),
        };
        let count = resp.resources.len();
        if !self.conn.send(&resp).await {
            return;
        }
        let sub = self.subs.entry(t).or_default();
        sub.nonce = nonce.clone();
        sub.sent.extend(resources);
        self.conn.record(Event::Sent {
            node,
            type_url: t.short().into(),
            version,
            nonce,
            resources: count,
            removed: 0,
        });
    }
}

/// Bind the ADS port on loopback (port 0: the kernel picks).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
