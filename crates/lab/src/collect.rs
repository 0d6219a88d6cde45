//! Turning an access log into counts.

use std::io::BufRead;
use std::path::Path;

use mesh5xx_results::SidecarCounts;

/// Count an access log's lines by status, flags and upstream cluster.
pub fn access_log(path: &Path, pod: &str, role: &str) -> std::io::Result<SidecarCounts> {
    let mut c = SidecarCounts {
        pod: pod.to_string(),
        role: role.to_string(),
        ..Default::default()
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(c),
        Err(e) => return Err(e),
    };
    for line in std::io::BufReader::new(file).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match mesh5xx_accesslog::parse_line(&line) {
            Ok(e) => {
                c.requests += 1;
                *c.responses.entry(e.response_code.to_string()).or_default() += 1;
                *c.flags.entry(e.response_flags.to_string()).or_default() += 1;
                if let Some(cl) = e.upstream_cluster {
                    *c.clusters.entry(cl.to_string()).or_default() += 1;
                }
                if e.response_code >= 500 && c.sample_error_line.is_none() {
                    c.sample_error_line = Some(line.clone());
                }
            }
            Err(_) => c.unparsed += 1,
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_seed_line() {
        let dir = std::env::temp_dir().join(format!("mesh5xx-collect-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.log");
        std::fs::write(
            &p,
            "[2022-04-18T09:29:59.633Z] \"GET /service_a/v2.1/get?ids=123456 HTTP/1.1\" 503 UC \"-\" \"-\" 0 95 11 - \"-\" \"-\" \"bc6f9ba3-d8dc-4955-a092-64617d9277c8\" \"srv-a.xyz\" \"127.0.0.1:8080\" inbound|80|http|srv-a.xyz.svc.cluster.local - 100.64.121.11:8080 100.64.254.9:35174 -\nnoise\n",
        )
        .unwrap();
        let c = access_log(&p, "srv-a-0", "server").unwrap();
        assert_eq!(c.requests, 1);
        assert_eq!(c.unparsed, 1);
        assert_eq!(c.flags["UC"], 1);
        assert_eq!(c.clusters["inbound|80|http|srv-a.xyz.svc.cluster.local"], 1);
        assert!(c.sample_error_line.unwrap().contains("503 UC"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
