//! Answering one DNS message from the zone table, and counting what was answered.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Edns, Header, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use serde::{Deserialize, Serialize};

use crate::config::normalize_name;
use crate::firewall::Firewall;
use crate::zones::Zones;

/// Largest UDP payload this server advertises and sends with EDNS.
const EDNS_PAYLOAD: u16 = 1232;

/// The classes of answers counted in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerKind {
    /// NOERROR with A records.
    NoError,
    /// The name does not exist.
    NxDomain,
    /// The name exists without records of the asked type (NOERROR, empty answer).
    NoData,
    /// The message could not be parsed, but its header could.
    FormErr,
    /// An opcode or class this server does not implement.
    NotImp,
}

/// DNS counters, shared by the UDP and TCP servers.
#[derive(Debug, Default)]
pub struct DnsStats {
    udp: AtomicU64,
    tcp: AtomicU64,
    dropped: AtomicU64,
    answers: [AtomicU64; 5],
    by_type: Mutex<BTreeMap<String, u64>>,
}

/// A snapshot of [`DnsStats`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsReport {
    /// Messages received over UDP.
    pub udp: u64,
    /// Messages received over TCP.
    pub tcp: u64,
    /// Queries by type (`A`, `AAAA`, …).
    pub by_type: BTreeMap<String, u64>,
    /// Answers by class: `noerror`, `nxdomain`, `nodata`, `formerr`, `notimp`.
    pub by_answer: BTreeMap<String, u64>,
    /// Messages left unanswered (header unreadable, or a response sent to us).
    pub dropped: u64,
}

const ANSWER_NAMES: [&str; 5] = ["noerror", "nxdomain", "nodata", "formerr", "notimp"];

impl DnsStats {
    /// Count one received message.
    pub fn received(&self, tcp: bool) {
        if tcp { &self.tcp } else { &self.udp }.fetch_add(1, Relaxed);
    }

    fn answered(&self, kind: AnswerKind) {
        self.answers[kind as usize].fetch_add(1, Relaxed);
    }

    fn query_type(&self, rtype: RecordType) {
        let mut by_type = self.by_type.lock().expect("dns stats lock");
        *by_type.entry(rtype.to_string()).or_insert(0) += 1;
    }

    /// A snapshot of the counters.
    pub fn report(&self) -> DnsReport {
        DnsReport {
            udp: self.udp.load(Relaxed),
            tcp: self.tcp.load(Relaxed),
            by_type: self.by_type.lock().expect("dns stats lock").clone(),
            by_answer: ANSWER_NAMES
                .iter()
                .zip(&self.answers)
                .map(|(n, c)| (n.to_string(), c.load(Relaxed)))
                .collect(),
            dropped: self.dropped.load(Relaxed),
        }
    }
}

/// Answers DNS messages from the zones and opens the firewall for allow-listed answers.
pub struct DnsHandler {
    zones: Arc<Zones>,
    firewall: Arc<Firewall>,
    stats: DnsStats,
}

impl DnsHandler {
    /// The firewall its answers open.
    pub fn firewall(&self) -> &Firewall {
        &self.firewall
    }

    /// A handler over `zones` that reports answers to `firewall`.
    pub fn new(zones: Arc<Zones>, firewall: Arc<Firewall>) -> Self {
        Self {
            zones,
            firewall,
            stats: DnsStats::default(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> &DnsStats {
        &self.stats
    }

    /// The response to `packet`, or `None` when it deserves no answer.
    /// Over UDP (`tcp == false`) a response larger than the client accepts is truncated (TC).
    pub fn handle(&self, packet: &[u8], tcp: bool) -> Option<Vec<u8>> {
        self.stats.received(tcp);
        let Ok(request) = Message::from_vec(packet) else {
            return self.form_error(packet);
        };
        if request.message_type() == MessageType::Response {
            self.stats.dropped.fetch_add(1, Relaxed);
            return None;
        }
        let mut response = Message::new();
        response
            .set_id(request.id())
            .set_message_type(MessageType::Response)
            .set_op_code(request.op_code())
            .set_recursion_desired(request.recursion_desired())
            .set_authoritative(true)
            .add_queries(request.queries().iter().cloned());
        if request.extensions().is_some() {
            let mut edns = Edns::new();
            edns.set_max_payload(EDNS_PAYLOAD);
            response.set_edns(edns);
        }
        let kind = self.answer(&request, &mut response);
        self.stats.answered(kind);
        response.set_response_code(match kind {
            AnswerKind::NoError | AnswerKind::NoData => ResponseCode::NoError,
            AnswerKind::NxDomain => ResponseCode::NXDomain,
            AnswerKind::FormErr => ResponseCode::FormErr,
            AnswerKind::NotImp => ResponseCode::NotImp,
        });
        let bytes = response.to_vec().ok()?;
        let limit = request.max_payload().clamp(512, EDNS_PAYLOAD) as usize;
        if !tcp && bytes.len() > limit {
            return response.truncate().to_vec().ok();
        }
        Some(bytes)
    }

    fn answer(&self, request: &Message, response: &mut Message) -> AnswerKind {
        if request.op_code() != OpCode::Query {
            return AnswerKind::NotImp;
        }
        let [query] = request.queries() else {
            return AnswerKind::FormErr;
        };
        self.stats.query_type(query.query_type());
        if query.query_class() != DNSClass::IN {
            return AnswerKind::NotImp;
        }
        let name = normalize_name(&query.name().to_ascii());
        let Some(found) = self.zones.lookup(&name) else {
            return AnswerKind::NxDomain;
        };
        if query.query_type() != RecordType::A || found.addresses.is_empty() {
            return AnswerKind::NoData;
        }
        response.add_answers(
            found
                .addresses
                .iter()
                .map(|&ip| Record::from_rdata(query.name().clone(), found.ttl_s, RData::A(A(ip)))),
        );
        self.firewall.admit(&name, found.fqdn, found.addresses);
        AnswerKind::NoError
    }

    /// FORMERR when at least the header is readable, else nothing.
    fn form_error(&self, packet: &[u8]) -> Option<Vec<u8>> {
        let header = Header::read(&mut BinDecoder::new(packet)).ok();
        let Some(header) = header.filter(|h| h.message_type() == MessageType::Query) else {
            self.stats.dropped.fetch_add(1, Relaxed);
            return None;
        };
        self.stats.answered(AnswerKind::FormErr);
        let mut response = Message::error_msg(header.id(), header.op_code(), ResponseCode::FormErr);
        response.set_recursion_desired(header.recursion_desired());
        response.to_vec().ok()
    }
}
