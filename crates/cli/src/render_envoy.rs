//! `mesh5xx render envoy SCENARIO`: the Envoy configuration the lab gives each sidecar of a
//! variant, as istiod of the profile would have rendered it, in Envoy's YAML; with
//! `--diff-profile`, only what differs between two Istio versions.
//!
//! Addresses the lab picks at run time (ports 0, the apps' ports, the DNS server) are shown
//! as fixed placeholders: the app on 127.0.0.1:8080, server sidecars' inbound listeners on
//! 127.0.0.1:15006 + N, the lab's DNS server on 127.0.0.1:5353, the external host's
//! gateways on port 80.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use mesh5xx_scenario::{profile, Catalog, Profile, Scenario, Variant};
use mesh5xx_sidecar::certs::service_account;
use mesh5xx_sidecar::{
    render, ExternalService, InboundSpec, OutboundSpec, SidecarSpec, WorkloadSecrets,
};

/// Arguments of `mesh5xx render envoy`.
#[derive(Debug, Clone, clap::Args)]
pub struct RenderEnvoyArgs {
    /// The scenario (see `mesh5xx list`), or the path of a scenario file of your own.
    pub scenario: String,
    /// The variant (default: baseline).
    #[arg(long, value_name = "NAME", default_value = "baseline")]
    pub variant: String,
    /// The Istio profile (default: the scenario's).
    #[arg(long, value_name = "PROFILE")]
    pub profile: Option<String>,
    /// Print only what differs from the configuration under this profile.
    #[arg(long, value_name = "PROFILE")]
    pub diff_profile: Option<String>,
}

/// One sidecar's configuration.
struct Rendered {
    pod: String,
    role: &'static str,
    yaml: String,
}

/// Run the command on `catalog`.
pub fn main(args: &RenderEnvoyArgs, catalog: &Catalog) -> anyhow::Result<ExitCode> {
    let scenario = catalog.get(&args.scenario)?;
    let variant = scenario.variant(&args.variant)?;
    let base = profile::by_name(args.profile.as_deref().unwrap_or(&scenario.profile))?;
    let left = sidecars(scenario, variant, &base)?;
    let Some(other) = &args.diff_profile else {
        for r in &left {
            println!(
                "# {} ({} sidecar), {} / {}, profile {}",
                r.pod, r.role, scenario.name, variant.name, base.name
            );
            print!("{}", r.yaml);
        }
        return Ok(ExitCode::SUCCESS);
    };
    let other = profile::by_name(other)?;
    let right = sidecars(scenario, variant, &other)?;
    for (l, r) in left.iter().zip(&right) {
        println!(
            "# {} ({} sidecar), {} / {}",
            l.pod, l.role, scenario.name, variant.name
        );
        println!("--- {}", base.name);
        println!("+++ {}", other.name);
        print!("{}", diff(&l.yaml, &r.yaml, 2));
    }
    Ok(ExitCode::SUCCESS)
}

/// The sidecars of `variant` under `profile`, as the local lab lays them out.
fn sidecars(
    scenario: &Scenario,
    variant: &Variant,
    profile: &Profile,
) -> anyhow::Result<Vec<Rendered>> {
    let variant = variant.for_profile(profile);
    if let Some(why) = variant.not_applicable(profile) {
        anyhow::bail!("{}: {why}", scenario.name);
    }
    let yaml =
        |spec: &SidecarSpec<'_>| yaml_serde::to_string(&render(spec)).expect("a config serializes");
    let short = scenario.service.host.split('.').next().unwrap_or("app");
    let mut out = Vec::new();
    let mut inbound = Vec::new();
    let external = variant.topology.external.as_ref();
    if external.is_none() {
        for i in 0..variant.topology.replicas as u16 {
            let pod = format!("{short}-{i}");
            let app = InboundSpec {
                service: &scenario.service,
                app: SocketAddr::from(([127, 0, 0, 1], 8080)),
            };
            let mut spec = SidecarSpec::server(&pod, profile, &variant.istio, stdout(), app)
                .in_topology(&variant.topology);
            spec.secrets = secrets(&variant, service_account(&scenario.service));
            out.push(Rendered {
                pod,
                role: "server",
                yaml: yaml(&spec),
            });
            inbound.push(SocketAddr::from(([127, 0, 0, 1], 15006 + i)));
        }
    }
    if variant.topology.client_sidecar {
        let outbound = match external {
            Some(ext) => OutboundSpec {
                service: None,
                external: vec![ExternalService {
                    host: scenario.service.host.clone(),
                    port: scenario.service.port,
                    endpoint_port: 80,
                    dns: SocketAddr::from(([127, 0, 0, 1], 5353)),
                    dns_refresh: ext.dns_refresh_ms.map(std::time::Duration::from_millis),
                }],
            },
            None => OutboundSpec {
                service: Some((&scenario.service, inbound)),
                external: vec![],
            },
        };
        let mut spec = SidecarSpec::client(profile, &variant.istio, stdout(), outbound)
            .in_topology(&variant.topology);
        spec.secrets = secrets(&variant, "client");
        out.push(Rendered {
            pod: "client".into(),
            role: "client",
            yaml: yaml(&spec),
        });
    }
    Ok(out)
}

/// The SDS files of service account `sa`, as a run lays them out under the variant's
/// directory (`certs/`), when the mesh has workload certificates.
fn secrets(variant: &Variant, sa: &str) -> Option<WorkloadSecrets> {
    variant.topology.mtls.map(|_| WorkloadSecrets {
        default: PathBuf::from(format!("certs/sds-default-{sa}.json")),
        root: PathBuf::from("certs/sds-rootca.json"),
    })
}

/// Where the shown configurations log.
fn stdout() -> PathBuf {
    PathBuf::from("/dev/stdout")
}

/// A unified diff of two texts, line by line, with `context` lines around each change.
pub fn diff(a: &str, b: &str, context: usize) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    // Longest common subsequence table, from the ends.
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    // The edit script: (' ' | '-' | '+', line).
    let mut ops = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', a[i]));
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
    let changed: Vec<usize> = (0..ops.len()).filter(|k| ops[*k].0 != ' ').collect();
    if changed.is_empty() {
        return "  (no difference)\n".to_string();
    }
    let mut out = String::new();
    let mut last_shown: Option<usize> = None;
    for (k, (op, line)) in ops.iter().enumerate() {
        let near = changed
            .iter()
            .any(|c| k + context >= *c && k <= c + context);
        if !near {
            continue;
        }
        if last_shown.is_some_and(|l| k > l + 1) || (last_shown.is_none() && k > 0) {
            out.push_str("@@\n");
        }
        out.push_str(&format!("{op}{line}\n"));
        last_shown = Some(k);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diff_shows_changed_lines_with_context() {
        let a = "a\nb\nc\nd\ne\nf\ng\n";
        let b = "a\nb\nC\nd\ne\nf\ng\nh\n";
        assert_eq!(diff(a, b, 1), "@@\n b\n-c\n+C\n d\n@@\n g\n+h\n");
        assert_eq!(diff(a, a, 2), "  (no difference)\n");
    }
}
