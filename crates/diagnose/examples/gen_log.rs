//! Writes a synthetic istio-proxy access log to stdout for benchmarking `diagnose`:
//! every supported format, 5xx of each scenario, and noise lines.
//!
//! Usage: `gen_log MEGABYTES > FILE`

use std::io::{self, BufWriter, Write};

fn main() -> io::Result<()> {
    let megabytes: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(256);
    let target = megabytes * 1024 * 1024;
    let mut out = BufWriter::with_capacity(1 << 20, io::stdout().lock());
    let mut written = 0u64;
    let mut rng = fastrand::Rng::with_seed(5);
    let mut i = 0u64;
    while written < target {
        i += 1;
        let secs = i / 50;
        let ts = format!(
            "2022-04-18T{:02}:{:02}:{:02}.{:03}Z",
            (secs / 3600) % 24,
            (secs / 60) % 60,
            secs % 60,
            i % 1000
        );
        let (code, flags, bytes, duration) = match rng.u32(0..1000) {
            0..=4 => (503, "UC", 95, 11),
            5..=8 => (503, "UF", 91, 0),
            9 => (504, "UT", 24, 15004),
            _ => (200, "-", 1024 + rng.u64(0..4096), rng.u64(1..300)),
        };
        let rid = format!("{:016x}-{:04x}", rng.u64(..), i & 0xffff);
        let line = match rng.u32(0..100) {
            0..=39 => format!(
                "[{ts}] \"GET /service_a/v2.1/get?ids={i} HTTP/1.1\" {code} {flags} \"-\" \"-\" 0 {bytes} {duration} - \"-\" \"Apache-HttpClient/4.5.5 (Java/11)\" \"{rid}\" \"srv-a.xyz\" \"127.0.0.1:8080\" inbound|80|http|srv-a.xyz.svc.cluster.local - 100.64.121.11:8080 100.64.254.9:35174 -\n"
            ),
            40..=69 => format!(
                "[{ts}] \"GET /External.WebService/v2/Ids HTTP/1.1\" {code} {flags} via_upstream - \"-\" 0 {bytes} {duration} - \"-\" \"curl/8.5.0\" \"{rid}\" \"external.service.com\" \"55.92.142.17:80\" PassthroughCluster 10.244.0.9:41234 55.92.142.17:80 10.244.0.9:39140 - allow_any\n"
            ),
            70..=89 => format!(
                "{{\"start_time\":\"{ts}\",\"method\":\"POST\",\"path\":\"/v1/charge\",\"protocol\":\"HTTP/1.1\",\"response_code\":{code},\"response_flags\":\"{flags}\",\"response_code_details\":\"via_upstream\",\"connection_termination_details\":null,\"upstream_transport_failure_reason\":null,\"bytes_received\":80,\"bytes_sent\":{bytes},\"duration\":{duration},\"upstream_service_time\":null,\"x_forwarded_for\":null,\"user_agent\":\"okhttp/4.9.0\",\"request_id\":\"{rid}\",\"authority\":\"api.payments.example.com\",\"upstream_host\":\"52.1.1.1:80\",\"upstream_cluster\":\"outbound|80||api.payments.example.com\",\"upstream_local_address\":\"10.244.0.9:40000\",\"downstream_local_address\":\"10.96.0.50:80\",\"downstream_remote_address\":\"10.244.0.9:39000\",\"requested_server_name\":null,\"route_name\":\"default\"}}\n"
            ),
            90..=96 => format!(
                "[{ts}] \"GET /health HTTP/1.1\" {code} {flags} 0 {bytes} {duration} - \"-\" \"kube-probe/1.29\" \"{rid}\" \"10.244.0.7:15021\" \"127.0.0.1:15020\"\n"
            ),
            _ => format!("{ts} info\tcache\tgenerated new workload certificate latency={duration}ms ttl=23h59m59s\n"),
        };
        out.write_all(line.as_bytes())?;
        written += line.len() as u64;
    }
    out.flush()
}
