//! AuthorizationPolicies as istiod renders them on the inbound listener: one
//! `envoy.filters.http.rbac` filter for the DENY policies, then one for the ALLOW policies
//! (`pilot/pkg/security/authz/builder/builder.go@1.24.0` L98-124), each rule a policy named
//! `ns[NS]-policy[NAME]-rule[N]` (L369-375) whose permission is the AND of its attributes,
//! each the OR of its values (`model/model.go@1.24.0` L165-222; a method is an exact match
//! on `:method`, `model/generator.go@1.24.0` L360-369, `matcher/header.go@1.24.0` L25-55),
//! and whose principal is any (the lab's rules name no source).

use mesh5xx_scenario::istio::{AuthorizationAction, AuthorizationPolicy, Metadata};
use mesh5xx_scenario::IstioObjects;
use serde_json::{json, Map, Value};

/// The RBAC filters of `istio`'s AuthorizationPolicies, in istiod's order (none without).
pub fn http_filters(istio: &IstioObjects) -> Vec<Value> {
    [AuthorizationAction::Deny, AuthorizationAction::Allow]
        .into_iter()
        .filter_map(|action| {
            let policies: Vec<(&Metadata, &AuthorizationPolicy)> = istio
                .authorization_policies()
                .filter(|(_, p)| p.action == action)
                .collect();
            (!policies.is_empty()).then(|| filter(action, &policies))
        })
        .collect()
}

fn filter(action: AuthorizationAction, policies: &[(&Metadata, &AuthorizationPolicy)]) -> Value {
    let mut rbac_policies = Map::new();
    for (meta, p) in policies {
        let ns = meta.namespace.as_deref().unwrap_or("default");
        if p.rules.is_empty() {
            // A policy without rules matches nothing (builder.go@1.24.0 L240-245).
            rbac_policies.insert(
                format!("ns[{ns}]-policy[{}]-rule[0]", meta.name),
                json!({"permissions": [{"not_rule": {"any": true}}], "principals": [{"not_id": {"any": true}}]}),
            );
        }
        for (i, rule) in p.rules.iter().enumerate() {
            let permissions: Vec<Value> = if rule.to.is_empty() {
                vec![json!({"and_rules": {"rules": [{"any": true}]}})]
            } else {
                rule.to
                    .iter()
                    .map(|to| {
                        let methods: Vec<Value> = to
                            .operation
                            .methods
                            .iter()
                            .map(|m| json!({"header": {"name": ":method", "string_match": {"exact": m}}}))
                            .collect();
                        json!({"and_rules": {"rules": [{"or_rules": {"rules": methods}}]}})
                    })
                    .collect()
            };
            rbac_policies.insert(
                format!("ns[{ns}]-policy[{}]-rule[{i}]", meta.name),
                json!({"permissions": permissions, "principals": [{"and_ids": {"ids": [{"any": true}]}}]}),
            );
        }
    }
    let action = match action {
        AuthorizationAction::Allow => "ALLOW",
        AuthorizationAction::Deny => "DENY",
    };
    json!({
        "name": "envoy.filters.http.rbac",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
            "rules": {"action": action, "policies": rbac_policies}
        }
    })
}
