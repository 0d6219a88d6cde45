//! Incremental ADS (`DeltaAggregatedResources`), which pilot-agent bootstraps Envoy with from
//! Istio 1.22 ([`crate::resources::AdsApi`]).
//!
//! Per stream and type, as istiod's `StreamDeltas` (istio/istio `pilot/pkg/xds/delta.go@1.22.0`):
//! - CDS and LDS are wildcard subscriptions (everything the sidecar is served), EDS and RDS
//!   explicit names, added by `resource_names_subscribe` and dropped by
//!   `resource_names_unsubscribe` (`pilot/pkg/xds/ads.go@1.22.0` L499-511 `isWildcardTypeURL`;
//!   `delta.go@1.22.0` L645-670 `deltaWatchedResources`);
//! - the first request of a type is always answered (L381-405); later, a request is answered
//!   when it subscribes to names the sidecar was not getting (L430-461);
//! - `initial_resource_versions` (a new stream of a sidecar that already has resources) adds
//!   those names to the subscription (L651-653); here it also says which versions the sidecar
//!   has, so only what changed since is sent and what is gone is named removed;
//! - a request carrying the nonce of an outstanding response is its ACK, or its NACK with an
//!   `error_detail`: recorded, nothing is resent (L370-375); an unknown nonce is stale
//!   (L410-415);
//! - after the clusters of a CDS response, the endpoints of those clusters follow, whether or
//!   not Envoy asks again, so a changed cluster never waits warming for its EDS (L326-359
//!   `forceEDSPush`);
//! - a push goes to the subscribed types in the SotW order, CDS → EDS → LDS → RDS, without
//!   waiting for ACKs; each response carries the resources added or changed, each with its
//!   version, and in `removed_resources` the names gone (L514-547). Where istiod's full push
//!   resends most unchanged resources (Envoy skips them by hash), this control plane sends
//!   only those whose version changed. An endpoint-only push looks at EDS alone.
//!
//! A resource's version is a hash of its JSON (objects keyed in order), so equal resources
//! have equal versions across pushes and across control plane restarts.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use crate::record::Event;
use crate::resources::TypeUrl;
use crate::server::{Conn, End, Protocol};
use crate::wire::{DeltaDiscoveryRequest, DeltaDiscoveryResponse, Resource};

/// The version of a resource: FNV-1a (64 bits) of its JSON text, in hex.
pub fn version_of(resource: &Value) -> String {
    let text = serde_json::to_string(resource).expect("a JSON value serializes");
    let h = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{h:016x}")
}

/// What one sidecar subscribed to of one type, and which version of each resource it has as
/// far as the control plane knows (what it was sent, or said it had).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tracked {
    /// Everything of the type (CDS, LDS), else the names in `names`.
    wildcard: bool,
    names: BTreeSet<String>,
    /// By name: the version last sent (or declared in `initial_resource_versions`).
    has: BTreeMap<String, String>,
    /// Responses neither ACKed nor NACKed yet: nonce → system version.
    pending: BTreeMap<String, String>,
    /// Whether a response of this type went out on this stream.
    answered: bool,
}

/// What a response of one type carries: the names to send and the names removed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diff {
    pub changed: Vec<String>,
    pub removed: Vec<String>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.removed.is_empty()
    }
}

impl Tracked {
    /// A new subscription to type `t`: wildcard for CDS and LDS.
    pub fn new(t: TypeUrl) -> Self {
        Self {
            wildcard: t.is_state_of_the_world(),
            ..Self::default()
        }
    }

    /// Whether resource `name` is subscribed to.
    pub fn wants(&self, name: &str) -> bool {
        self.wildcard || self.names.contains(name)
    }

    /// Apply a request's subscription changes; true if it asks for names it was not getting.
    /// `*` (the explicit wildcard) is the wildcard CDS and LDS always have.
    pub fn subscribe(
        &mut self,
        subscribe: &[String],
        unsubscribe: &[String],
        initial: &HashMap<String, String>,
    ) -> bool {
        let mut added = false;
        for (name, version) in initial {
            if !self.wildcard {
                self.names.insert(name.clone());
            }
            self.has.insert(name.clone(), version.clone());
        }
        if !self.wildcard {
            for name in subscribe.iter().filter(|n| *n != "*") {
                added |= self.names.insert(name.clone());
            }
            for name in unsubscribe {
                self.names.remove(name);
                self.has.remove(name);
            }
        }
        added
    }

    /// What to send when the subscribed resources of the type are `current` (name →
    /// version): those the sidecar does not have at that version, those in `force` it
    /// subscribes to, and the names of those it has that are gone.
    pub fn diff(&self, current: &BTreeMap<String, String>, force: &BTreeSet<String>) -> Diff {
        Diff {
            changed: current
                .iter()
                .filter(|(n, v)| {
                    self.wants(n) && (self.has.get(*n) != Some(*v) || force.contains(*n))
                })
                .map(|(n, _)| n.clone())
                .collect(),
            removed: self
                .has
                .keys()
                .filter(|n| !current.contains_key(*n))
                .cloned()
                .collect(),
        }
    }

    /// Whether a response is due even when `diff` is empty: the first of the type, so the
    /// sidecar's subscription is answered.
    pub fn must_answer(&self) -> bool {
        !self.answered
    }

    /// A response carrying `diff` went out as `nonce` at system version `version`.
    pub fn sent(
        &mut self,
        diff: &Diff,
        current: &BTreeMap<String, String>,
        nonce: String,
        version: String,
    ) {
        for n in &diff.changed {
            self.has.insert(n.clone(), current[n].clone());
        }
        for n in &diff.removed {
            self.has.remove(n);
        }
        self.pending.insert(nonce, version);
        self.answered = true;
    }

    /// The sidecar answered response `nonce`: its system version if it was outstanding (it
    /// no longer is); `None` for a stale or unknown nonce.
    pub fn answer(&mut self, nonce: &str) -> Option<String> {
        self.pending.remove(nonce)
    }
}

/// An incremental stream.
pub(crate) struct DeltaStream {
    conn: Conn,
    subs: HashMap<TypeUrl, Tracked>,
}

impl DeltaStream {
    pub(crate) fn new(conn: Conn) -> Self {
        Self {
            conn,
            subs: HashMap::new(),
        }
    }

    /// Send what changed of type `t` (and the resources in `force` it subscribes to); returns
    /// the names sent. Nothing is sent to a sidecar the control plane has no configuration
    /// for yet: it waits, as for a slow istiod.
    async fn respond(&mut self, t: TypeUrl, force: &BTreeSet<String>) -> BTreeSet<String> {
        let Some(node) = self.conn.node().map(str::to_string) else {
            return BTreeSet::new();
        };
        let Some(tracked) = self.subs.get(&t) else {
            return BTreeSet::new();
        };
        let (version, current, diff, values) = {
            let p = self.conn.shared.mesh.pushed();
            let Some(resources) = p.proxies.get(&node) else {
                return BTreeSet::new();
            };
            let all = resources.of(t);
            let current: BTreeMap<String, String> = all
                .iter()
                .filter(|(n, _)| tracked.wants(n))
                .map(|(n, v)| (n.clone(), version_of(v)))
                .collect();
            let diff = tracked.diff(&current, force);
            if diff.is_empty() && !tracked.must_answer() {
                return BTreeSet::new();
            }
            let values: Vec<Value> = diff.changed.iter().map(|n| all[n].clone()).collect();
            (p.version(), current, diff, values)
        };
        let mut resources = Vec::with_capacity(values.len());
        for (name, value) in diff.changed.iter().zip(&values) {
            match self.conn.shared.schema.encode(t.message(), name, value) {
                Ok(any) => resources.push(Resource {
                    version: current[name].clone(),
                    resource: Some(any),
                    name: name.clone(),
                }),
                Err(e) => {
                    self.conn
                        .reject(&format!("{node} {}", t.short()), e.to_string());
                    return BTreeSet::new();
                }
            }
        }
        let nonce = self.conn.nonce(&version, t);
        let resp = DeltaDiscoveryResponse {
            system_version_info: version.clone(),
            resources,
            type_url: t.url(),
            nonce: nonce.clone(),
            removed_resources: diff.removed.clone(),
        };
        if !self.conn.send(&resp).await {
            return BTreeSet::new();
        }
        self.subs.get_mut(&t).expect("checked above").sent(
            &diff,
            &current,
            nonce.clone(),
            version.clone(),
        );
        self.conn.record(Event::Sent {
            node,
            type_url: t.short().into(),
            version,
            nonce,
            resources: diff.changed.len(),
            removed: diff.removed.len(),
        });
        diff.changed.into_iter().collect()
    }

    /// Send what changed of type `t`; after clusters, the endpoints of those sent.
    async fn respond_with_warming(&mut self, t: TypeUrl) {
        let sent = self.respond(t, &BTreeSet::new()).await;
        if t == TypeUrl::Cluster && !sent.is_empty() && self.subs.contains_key(&TypeUrl::Endpoint) {
            self.respond(TypeUrl::Endpoint, &sent).await;
        }
    }
}

impl Protocol for DeltaStream {
    type Request = DeltaDiscoveryRequest;
    const REQUEST: &'static str = "DeltaDiscoveryRequest";

    fn conn(&mut self) -> &mut Conn {
        &mut self.conn
    }

    async fn on_request(&mut self, req: DeltaDiscoveryRequest) -> Result<(), End> {
        let Some((node, t)) =
            self.conn
                .identify(req.node.as_ref(), &req.type_url, Self::REQUEST)?
        else {
            return Ok(());
        };
        let first = !self.subs.contains_key(&t);
        let tracked = self.subs.entry(t).or_insert_with(|| Tracked::new(t));
        if !req.response_nonce.is_empty() {
            if let Some(version) = tracked.answer(&req.response_nonce) {
                self.conn.record(match &req.error_detail {
                    Some(err) => Event::Nack {
                        node,
                        type_url: t.short().into(),
                        nonce: req.response_nonce.clone(),
                        error: err.message.clone(),
                    },
                    None => Event::Ack {
                        node,
                        type_url: t.short().into(),
                        version,
                        nonce: req.response_nonce.clone(),
                    },
                });
            }
        }
        // Envoy may carry subscription changes on an ACK: they count whatever its nonce.
        let added = tracked.subscribe(
            &req.resource_names_subscribe,
            &req.resource_names_unsubscribe,
            &req.initial_resource_versions,
        );
        if first || added {
            self.respond_with_warming(t).await;
        }
        Ok(())
    }

    async fn on_push(&mut self, full: bool) {
        let mut clusters = BTreeSet::new();
        for t in TypeUrl::ALL {
            if !self.subs.contains_key(&t) || !(full || t == TypeUrl::Endpoint) {
                continue;
            }
            let force = if t == TypeUrl::Endpoint {
                std::mem::take(&mut clusters)
            } else {
                BTreeSet::new()
            };
            let sent = self.respond(t, &force).await;
            if t == TypeUrl::Cluster {
                clusters = sent;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn versions(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn none() -> BTreeSet<String> {
        BTreeSet::new()
    }

    /// Send `diff` as if on the wire, returning the nonce.
    fn send(t: &mut Tracked, current: &BTreeMap<String, String>, n: u32) -> (Diff, String) {
        let d = t.diff(current, &none());
        let nonce = format!("n{n}");
        t.sent(&d, current, nonce.clone(), format!("v{n}"));
        (d, nonce)
    }

    #[test]
    fn versions_follow_content_not_key_order() {
        let a = json!({"name": "c", "connect_timeout": "1s"});
        let b: Value = serde_json::from_str(r#"{"connect_timeout": "1s", "name": "c"}"#).unwrap();
        assert_eq!(version_of(&a), version_of(&b));
        assert_ne!(
            version_of(&a),
            version_of(&json!({"name": "c", "connect_timeout": "2s"}))
        );
        assert_eq!(version_of(&a).len(), 16);
    }

    #[test]
    fn a_wildcard_subscription_gets_everything_then_only_changes_and_removals() {
        let mut cds = Tracked::new(TypeUrl::Cluster);
        assert!(!cds.subscribe(&[], &[], &HashMap::new()));
        assert!(cds.must_answer());
        let now = versions(&[("a", "1"), ("b", "1")]);
        let (d, _) = send(&mut cds, &now, 1);
        assert_eq!(d.changed, names(&["a", "b"]));
        assert!(d.removed.is_empty());
        assert!(!cds.must_answer());
        // Nothing changed: nothing to send.
        assert!(cds.diff(&now, &none()).is_empty());
        // b changes, c comes, a goes.
        let next = versions(&[("b", "2"), ("c", "1")]);
        let (d, _) = send(&mut cds, &next, 2);
        assert_eq!(d.changed, names(&["b", "c"]));
        assert_eq!(d.removed, names(&["a"]));
        assert!(cds.diff(&next, &none()).is_empty());
    }

    #[test]
    fn explicit_names_are_subscribed_and_unsubscribed() {
        let mut eds = Tracked::new(TypeUrl::Endpoint);
        assert!(eds.subscribe(&names(&["x"]), &[], &HashMap::new()));
        assert!(eds.wants("x") && !eds.wants("y"));
        let now = versions(&[("x", "1"), ("y", "1")]);
        assert_eq!(eds.diff(&now, &none()).changed, names(&["x"]));
        send(&mut eds, &now, 1);
        // Subscribing again to what it gets asks for nothing new.
        assert!(!eds.subscribe(&names(&["x"]), &[], &HashMap::new()));
        assert!(eds.subscribe(&names(&["y"]), &names(&["x"]), &HashMap::new()));
        let d = eds.diff(&now, &none());
        // x was unsubscribed: neither resent nor named removed.
        assert_eq!(d.changed, names(&["y"]));
        assert!(d.removed.is_empty());
    }

    #[test]
    fn initial_versions_on_reconnect_send_only_what_changed_since() {
        let mut eds = Tracked::new(TypeUrl::Endpoint);
        let initial: HashMap<String, String> = [("x", "1"), ("y", "1"), ("gone", "1")]
            .into_iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        eds.subscribe(&names(&["x", "y", "gone"]), &[], &initial);
        let now = versions(&[("x", "1"), ("y", "2")]);
        let d = eds.diff(&now, &none());
        assert_eq!(d.changed, names(&["y"]));
        assert_eq!(d.removed, names(&["gone"]));
        // A wildcard type takes the versions without listing names.
        let mut cds = Tracked::new(TypeUrl::Cluster);
        cds.subscribe(&[], &[], &initial);
        assert!(cds.names.is_empty());
        assert_eq!(cds.diff(&now, &none()).changed, names(&["y"]));
    }

    #[test]
    fn forced_resources_are_resent_unchanged_if_subscribed() {
        let mut eds = Tracked::new(TypeUrl::Endpoint);
        eds.subscribe(&names(&["x"]), &[], &HashMap::new());
        let now = versions(&[("x", "1"), ("y", "1")]);
        send(&mut eds, &now, 1);
        let force: BTreeSet<String> = ["x".to_string(), "y".to_string()].into();
        assert_eq!(eds.diff(&now, &force).changed, names(&["x"]));
    }

    #[test]
    fn each_response_is_answered_once_and_a_nack_is_not_resent() {
        let mut cds = Tracked::new(TypeUrl::Cluster);
        cds.subscribe(&[], &[], &HashMap::new());
        let (_, n1) = send(&mut cds, &versions(&[("a", "1")]), 1);
        let bad = versions(&[("a", "bad")]);
        let (_, n2) = send(&mut cds, &bad, 2);
        // Both responses are outstanding; each answer is taken once.
        assert_eq!(cds.answer(&n1).as_deref(), Some("v1"));
        assert_eq!(cds.answer(&n1), None);
        assert_eq!(cds.answer("n-unknown"), None);
        // The second is NACKed: the bad version is not sent again, a fixed one is.
        assert_eq!(cds.answer(&n2).as_deref(), Some("v2"));
        assert!(cds.diff(&bad, &none()).is_empty());
        assert_eq!(
            cds.diff(&versions(&[("a", "1")]), &none()).changed,
            names(&["a"])
        );
    }
}
