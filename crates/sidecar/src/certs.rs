//! The mesh's certificates: a root CA and SPIFFE workload certificates as istiod's built-in
//! CA issues them, made with `openssl`, and the two secrets pilot-agent serves its Envoy.
//!
//! istiod's self-signed root: RSA 2048, 10 years, `O=cluster.local`
//! (security/pkg/pki/ca/ca.go@1.24.0 L62, L170-180; security/pkg/cmd/constants.go@1.24.0
//! L21, L41; pilot/pkg/bootstrap/istio_ca.go@1.24.0 L96-97). A workload certificate: RSA 2048
//! (`WORKLOAD_RSA_KEY_SIZE`, pilot/cmd/pilot-agent/options/options.go@1.24.0 L87), 24 h, an
//! empty subject and one critical URI SAN `spiffe://cluster.local/ns/NS/sa/SA`, for server
//! and client authentication.
//!
//! pilot-agent serves them to Envoy by SDS on its `sds-grpc` socket, as the resources
//! `default` (the workload's certificate and key) and `ROOTCA` (the roots to validate peers
//! with). The lab serves the same two resources by SDS from files (`path_config_source`):
//! the Envoy configuration names the same secrets, and the handshake (certificates, SANs,
//! ALPN, TLS parameters) is the same, without an agent process or a gRPC SDS server.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mesh5xx_scenario::model::{CertState, Service};
use serde_json::json;

/// The mesh's trust domain (meshConfig `trustDomain`, `cluster.local` by default).
pub const TRUST_DOMAIN: &str = "cluster.local";

/// istiod's default workload certificate lifetime (`DefaultWorkloadCertTTL`).
const WORKLOAD_TTL: Duration = Duration::from_secs(24 * 3600);

/// The SPIFFE identity of service account `sa` in namespace `ns`.
pub fn spiffe_id(ns: &str, sa: &str) -> String {
    format!("spiffe://{TRUST_DOMAIN}/ns/{ns}/sa/{sa}")
}

/// The service account of the server pods of `svc` (the host's first label: `srv-a`).
pub fn service_account(svc: &Service) -> &str {
    svc.host.split('.').next().unwrap_or(&svc.host)
}

/// Why a certificate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("running openssl ({what}): {source}. The lab makes the mesh's certificates with the `openssl` command")]
    Spawn {
        what: String,
        source: std::io::Error,
    },
    #[error("openssl failed ({what}): {stderr}")]
    Failed { what: String, stderr: String },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The SDS files a sidecar's secrets are read from: `default` and `ROOTCA`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadSecrets {
    /// The `default` secret: the workload's certificate chain and key.
    pub default: PathBuf,
    /// The `ROOTCA` secret: the mesh's root certificate.
    pub root: PathBuf,
}

/// The mesh's root CA, its files in a directory of the run.
#[derive(Debug, Clone)]
pub struct MeshCa {
    dir: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    root_sds: PathBuf,
}

impl MeshCa {
    /// Make a root CA in `dir` (created if missing).
    pub fn create(dir: &Path) -> Result<Self, CertError> {
        let write_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CertError::Write { path, source }
        };
        std::fs::create_dir_all(dir).map_err(write_err(dir))?;
        let cert = dir.join("root-cert.pem");
        let key = dir.join("ca-key.pem");
        // The default `req` configuration marks it a CA (basicConstraints critical CA:TRUE).
        openssl(
            "the root CA",
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "3650",
                "-subj",
                &format!("/O={TRUST_DOMAIN}"),
                "-keyout",
                &s(&key),
                "-out",
                &s(&cert),
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
            ],
        )?;
        let root_sds = dir.join("sds-rootca.json");
        let secret = json!({"resources": [{
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
            "name": "ROOTCA",
            "validation_context": {"trusted_ca": {"filename": s(&cert)}},
        }]});
        std::fs::write(&root_sds, secret.to_string()).map_err(write_err(&root_sds))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            cert,
            key,
            root_sds,
        })
    }

    /// Issue service account `sa` (namespace `default`) its workload certificate, valid from
    /// now for istiod's 24 h, or `expired` (from 25 h ago until an hour ago), and write its
    /// `default` secret.
    pub fn issue(&self, sa: &str, state: CertState) -> Result<WorkloadSecrets, CertError> {
        let write_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CertError::Write { path, source }
        };
        let key = self.dir.join(format!("{sa}-key.pem"));
        let csr = self.dir.join(format!("{sa}.csr"));
        let cert = self.dir.join(format!("{sa}-cert-chain.pem"));
        let ext = self.dir.join(format!("{sa}-ext.cnf"));
        std::fs::write(
            &ext,
            format!(
                "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=critical,URI:{}\n",
                spiffe_id("default", sa)
            ),
        )
        .map_err(write_err(&ext))?;
        let what = format!("the certificate of {sa}");
        openssl(
            &what,
            &[
                "req",
                "-new",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/",
                "-keyout",
                &s(&key),
                "-out",
                &s(&csr),
            ],
        )?;
        // `openssl ca` takes both dates (openssl 3.0's `x509 -req` sets notBefore to now).
        let db = self.dir.join(format!("{sa}-ca-db"));
        std::fs::create_dir_all(&db).map_err(write_err(&db))?;
        std::fs::write(db.join("index.txt"), "").map_err(write_err(&db))?;
        std::fs::write(db.join("serial"), format!("{:016X}\n", serial()))
            .map_err(write_err(&db))?;
        let conf = db.join("ca.cnf");
        std::fs::write(
            &conf,
            format!(
                "[ca]\ndefault_ca = mesh\n[mesh]\ndatabase = {db}/index.txt\nnew_certs_dir = {db}\nserial = {db}/serial\ndefault_md = sha256\npolicy = any\nunique_subject = no\n[any]\n",
                db = s(&db)
            ),
        )
        .map_err(write_err(&conf))?;
        let now = SystemTime::now();
        let (from, until) = match state {
            CertState::Valid => (now - Duration::from_secs(60), now + WORKLOAD_TTL),
            CertState::Expired => (
                now - WORKLOAD_TTL - Duration::from_secs(3600),
                now - Duration::from_secs(3600),
            ),
        };
        openssl(
            &what,
            &[
                "ca",
                "-batch",
                "-notext",
                "-config",
                &s(&conf),
                "-cert",
                &s(&self.cert),
                "-keyfile",
                &s(&self.key),
                "-in",
                &s(&csr),
                "-out",
                &s(&cert),
                "-extfile",
                &s(&ext),
                "-startdate",
                &asn1_time(from),
                "-enddate",
                &asn1_time(until),
            ],
        )?;
        let default = self.dir.join(format!("sds-default-{sa}.json"));
        let secret = json!({"resources": [{
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
            "name": "default",
            "tls_certificate": {
                "certificate_chain": {"filename": s(&cert)},
                "private_key": {"filename": s(&key)},
            },
        }]});
        std::fs::write(&default, secret.to_string()).map_err(write_err(&default))?;
        Ok(WorkloadSecrets {
            default,
            root: self.root_sds.clone(),
        })
    }
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn openssl(what: &str, args: &[&str]) -> Result<(), CertError> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .map_err(|source| CertError::Spawn {
            what: what.to_string(),
            source,
        })?;
    if !out.status.success() {
        return Err(CertError::Failed {
            what: what.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// A serial number unlikely to repeat between runs (the nanoseconds of now).
fn serial() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1
}

/// `t` as ASN.1 GeneralizedTime, `YYYYMMDDHHMMSSZ` (UTC).
fn asn1_time(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The proleptic Gregorian date of `days` since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asn1_times_are_utc_calendar_dates() {
        assert_eq!(asn1_time(UNIX_EPOCH), "19700101000000Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_709_210_096); // 2024-02-29 12:34:56
        assert_eq!(asn1_time(t), "20240229123456Z");
    }

    fn x509(cert: &Path, args: &[&str]) -> String {
        let out = Command::new("openssl")
            .args(["x509", "-noout", "-in", &s(cert)])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    fn cert_of(secrets: &WorkloadSecrets) -> PathBuf {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&secrets.default).unwrap()).unwrap();
        PathBuf::from(
            v["resources"][0]["tls_certificate"]["certificate_chain"]["filename"]
                .as_str()
                .unwrap(),
        )
    }

    #[test]
    fn issues_spiffe_certificates_that_verify_against_the_root_and_expire_when_told() {
        let dir = mesh5xx_testkit::scratch("certs");
        let ca = MeshCa::create(dir.path()).unwrap();
        let valid = ca.issue("srv-a", CertState::Valid).unwrap();
        let expired = ca.issue("client", CertState::Expired).unwrap();
        assert_eq!(valid.root, expired.root);
        let cert = cert_of(&valid);
        let san = x509(&cert, &["-ext", "subjectAltName"]);
        assert!(
            san.contains("critical")
                && san.contains("URI:spiffe://cluster.local/ns/default/sa/srv-a"),
            "{san}"
        );
        // Valid now and for about 24 h: checkend 23 h passes, 25 h does not.
        assert!(x509(&cert, &["-checkend", "82800"]).contains("will not expire"));
        let verify = |c: &Path| {
            Command::new("openssl")
                .args(["verify", "-CAfile", &s(&ca.cert), &s(c)])
                .output()
                .unwrap()
        };
        assert!(verify(&cert).status.success());
        let old = cert_of(&expired);
        let out = verify(&old);
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("certificate has expired")
                || String::from_utf8_lossy(&out.stderr).contains("certificate has expired"),
            "{out:?}"
        );
    }
}
