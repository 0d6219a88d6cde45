//! The cluster install files agree with the lab's profiles and access-log formats.

use std::path::PathBuf;

use mesh5xx_k8s::install;
use yaml_serde::Value;

fn read(rel: &str) -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn every_lab_profile_has_an_install() {
    for p in mesh5xx_scenario::profile::all() {
        let i = install::for_profile(p.name).unwrap_or_else(|| panic!("{} has no install", p.name));
        let op = read(i.operator_file);
        assert_eq!(op["kind"], Value::from("IstioOperator"));
        assert_eq!(
            op["spec"]["values"]["compatibilityVersion"],
            Value::from(i.compatibility_version),
            "{}",
            p.name
        );
        let mesh = &op["spec"]["meshConfig"];
        assert_eq!(mesh["accessLogFile"], Value::from("/dev/stdout"));
        assert_eq!(mesh["accessLogEncoding"], Value::from("TEXT"));
        assert_eq!(
            mesh["outboundTrafficPolicy"]["mode"],
            Value::from("ALLOW_ANY")
        );
        // The sidecars print the format the lab's parser reads for this profile.
        let want = match p.log_format() {
            mesh5xx_scenario::LogFormat::Istio12 => Some(mesh5xx_accesslog::ISTIO_1_2_TEXT_FORMAT),
            mesh5xx_scenario::LogFormat::Istio13 => {
                Some(mesh5xx_accesslog::ISTIO_LEGACY_TEXT_FORMAT)
            }
            mesh5xx_scenario::LogFormat::Istio19 | mesh5xx_scenario::LogFormat::Current => None,
        };
        assert_eq!(mesh["accessLogFormat"].as_str(), want, "{}", p.name);
        assert_eq!(
            mesh["dnsRefreshRate"].as_str(),
            Some(format!("{}s", p.dns_refresh_rate().as_secs()).as_str()),
            "{}",
            p.name
        );
        for f in i.extra_files {
            assert_eq!(read(f)["kind"], Value::from("EnvoyFilter"));
        }
    }
    assert_eq!(
        read(install::FLAGS_HEADER_FILTER)["kind"],
        Value::from("EnvoyFilter")
    );
}
