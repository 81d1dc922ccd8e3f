//! DNS flows: every message is read; the first query names the flow, answers feed the
//! run-wide address -> name index (`DnsNames`).

use super::{DissectShared, FlowDissect};
use crate::time::Timestamp;
use crate::wire::dns;

impl FlowDissect {
    pub(super) fn on_dns(&mut self, message: &[u8], now: Timestamp, shared: &mut DissectShared) {
        if let Some(msg) = dns::parse(message) {
            self.record_dns(msg, now, shared);
        }
    }

    /// Keeps the first query name and feeds the answers to the address -> name map.
    pub(super) fn record_dns(
        &mut self,
        msg: dns::DnsMessage,
        now: Timestamp,
        shared: &mut DissectShared,
    ) {
        if self.dns_query().is_none() && !msg.query.is_empty() {
            self.text_mut().dns_query = Some(msg.query.clone());
        }
        if msg.response {
            for (addr, ttl) in &msg.addresses {
                shared.dns.insert(*addr, &msg.query, *ttl, now);
            }
        }
    }
}
