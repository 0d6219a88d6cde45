//! The report: what the DNS server answered, what the firewall did, what each gateway carried.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::dns::{DnsHandler, DnsReport};
use crate::firewall::{AllowStats, Firewall, TimelineEvent};
use crate::gateway::{Gateway, GatewayReport};
use crate::nftables::NftTable;
use crate::schedule::ScheduleClock;

/// Everything the egress process counted, written on exit and served by `STATS`/`REPORT`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Milliseconds since start.
    pub uptime_ms: u64,
    /// DNS queries by transport, type and answer.
    pub dns: DnsReport,
    /// Allow-entry counters.
    pub allow: AllowStats,
    /// One entry per gateway, in configuration order.
    pub gateways: Vec<GatewayReport>,
    /// The live allow entries as `ipset list` lines.
    pub ipset: Vec<String>,
    /// Allow-entry events in time order (absent from `STATS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Vec<TimelineEvent>>,
    /// Events beyond the timeline's capacity, counted but not kept.
    pub timeline_dropped: u64,
}

/// The parts of a running egress process a report is read from.
pub struct Sources {
    /// The firewall.
    pub firewall: Arc<Firewall>,
    /// The DNS handler and its counters.
    pub dns: Arc<DnsHandler>,
    /// The gateways, in configuration order.
    pub gateways: Vec<Arc<Gateway>>,
    /// The kernel table with `backend: nftables`, which counts the gateways' connections.
    pub kernel: Option<Arc<NftTable>>,
    /// When the schedule started (the control command `START`).
    pub schedule: Arc<ScheduleClock>,
}

impl Sources {
    /// A report as of now, with or without the timeline.
    pub async fn report(&self, with_timeline: bool) -> Report {
        let now_ms = self.firewall.now_ms();
        let mut gateways: Vec<GatewayReport> =
            self.gateways.iter().map(|g| g.report(now_ms)).collect();
        if let Some(kernel) = &self.kernel {
            match kernel.counts().await {
                Ok(counts) => {
                    for (g, c) in gateways.iter_mut().zip(counts) {
                        g.accepted = c.forwarded;
                        g.forwarded = c.forwarded;
                        g.refused = c.refused;
                    }
                }
                Err(e) => tracing::warn!("gateway counters unavailable: {e}"),
            }
        }
        let (timeline, timeline_dropped) = self.firewall.timeline();
        Report {
            uptime_ms: now_ms,
            dns: self.dns.stats().report(),
            allow: self.firewall.stats(),
            gateways,
            ipset: self.firewall.ipset_lines(),
            timeline: with_timeline.then_some(timeline),
            timeline_dropped,
        }
    }
}
