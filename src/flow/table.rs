//! The bounded flow table. Expiry runs on capture time: a flow ends when the newest packet is
//! more than the idle timeout past the flow's last packet. When timestamps go backwards (merged
//! or misordered captures) a flow's last packet lies "in the future" and nothing expires early.
//! When the table is full, the least recently active flows are evicted in a batch and counted.

use super::slab::{Keyed, Slab};
use super::{Endpoint, FlowKey, FlowRecord, Side};
use crate::time::{Duration, Timestamp};
use crate::wire::tunnel::TunnelPath;
use crate::wire::{TcpFlags, Transport};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableLimits {
    pub max_flows: usize,
    pub idle_timeout: Duration,
}

impl Default for TableLimits {
    fn default() -> Self {
        TableLimits {
            max_flows: 1_000_000,
            idle_timeout: Duration::from_secs(300),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    pub created: u64,
    pub expired: u64,
    /// Flows ended early because the table was full.
    pub evicted: u64,
    /// TCP flows ended because a new SYN reused a closed conversation's ports.
    pub port_reuse: u64,
    pub peak_flows: usize,
}

/// Why the flow table ended a flow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// No packet for the idle timeout (capture time).
    Idle,
    /// The table was full: the least recently active flow made room (its counts are split).
    Evicted,
    /// A new connection reused the 5-tuple (a SYN after the flow closed).
    PortReuse,
    /// Still open when the run ended (the last capture, or a live run's stop).
    #[default]
    EndOfCapture,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Idle => "idle",
            EndReason::Evicted => "evicted",
            EndReason::PortReuse => "port-reuse",
            EndReason::EndOfCapture => "end-of-capture",
        }
    }
}

#[derive(Debug)]
pub struct FlowEntry<S> {
    pub record: FlowRecord,
    pub state: S,
}

impl<S> Keyed for FlowEntry<S> {
    fn key(&self) -> FlowKey {
        self.record.key
    }
}

/// The parts of a decoded packet the table needs.
#[derive(Clone, Copy, Debug)]
pub struct PacketMeta {
    pub src: Endpoint,
    pub dst: Endpoint,
    pub transport: Transport,
    pub tcp_flags: Option<TcpFlags>,
    pub ts: Timestamp,
    pub wire_len: u32,
    /// Encapsulations around the packet (the flow keeps its first packet's).
    pub tunnel: TunnelPath,
}

impl PacketMeta {
    /// What the flow table needs of a decoded IP packet.
    pub fn of(ip: &crate::wire::IpPacket<'_>, ts: Timestamp, wire_len: u32) -> Self {
        PacketMeta {
            src: Endpoint {
                ip: ip.src,
                port: ip.src_port,
            },
            dst: Endpoint {
                ip: ip.dst,
                port: ip.dst_port,
            },
            transport: ip.transport,
            tcp_flags: ip.tcp.map(|t| t.flags),
            ts,
            wire_len,
            tunnel: ip.tunnel,
        }
    }
}

pub struct FlowTable<S> {
    flows: Slab<FlowEntry<S>>,
    limits: TableLimits,
    last_sweep: Option<Timestamp>,
    /// Packets since the last sweep, and whether time went backwards since: see `maybe_sweep`.
    packets_since_sweep: usize,
    went_back: bool,
    /// Sweeps done (each scans the whole table).
    sweeps: u64,
    stats: TableStats,
}

impl<S: Default> FlowTable<S> {
    pub fn new(limits: TableLimits) -> Self {
        FlowTable {
            flows: Slab::default(),
            limits: TableLimits {
                max_flows: limits.max_flows.clamp(1, Slab::<FlowEntry<S>>::MAX),
                ..limits
            },
            last_sweep: None,
            packets_since_sweep: 0,
            went_back: false,
            sweeps: 0,
            stats: TableStats::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    pub fn stats(&self) -> TableStats {
        self.stats
    }

    /// Places one packet in its flow (creating it if needed), counts it and returns the flow
    /// and the sender's side. Flows that end meanwhile are handed to `on_end`.
    pub fn packet(
        &mut self,
        pkt: &PacketMeta,
        capture: u32,
        on_end: &mut impl FnMut(FlowEntry<S>, EndReason),
    ) -> Option<(&mut FlowEntry<S>, Side)> {
        let held_back = self.maybe_sweep(pkt.ts, on_end);
        let (key, _) = FlowKey::new(pkt.src, pkt.dst, pkt.transport.ip_number());
        if held_back {
            // The sweep would have ended this flow if idle: so does this packet.
            let timeout = self.limits.idle_timeout;
            let idle = self
                .flows
                .get(&key)
                .is_some_and(|e| pkt.ts.saturating_since(e.record.last_seen) > timeout);
            if idle {
                if let Some(old) = self.flows.remove(&key) {
                    self.stats.expired += 1;
                    on_end(old, EndReason::Idle);
                }
            }
        }
        let starts_conversation = pkt
            .tcp_flags
            .is_some_and(|f| f.has(TcpFlags::SYN) && !f.has(TcpFlags::ACK));
        let reused =
            starts_conversation && self.flows.get(&key).is_some_and(|e| e.record.tcp_closed());
        if reused {
            if let Some(old) = self.flows.remove(&key) {
                self.stats.port_reuse += 1;
                on_end(old, EndReason::PortReuse);
            }
        }
        // Length first: the lookup is only needed when the table is full.
        if self.flows.len() >= self.limits.max_flows && !self.flows.contains(&key) {
            self.evict_batch(pkt.ts, on_end);
        }
        let len_before = self.flows.len();
        let stats = &mut self.stats;
        let entry = self.flows.get_or_insert_with(key, || {
            stats.created += 1;
            stats.peak_flows = stats.peak_flows.max(len_before + 1);
            let (client, server) = orient(pkt);
            let mut record = FlowRecord::new(key, pkt.transport, client, server, capture, pkt.ts);
            record.tunnel = pkt.tunnel;
            FlowEntry {
                record,
                state: S::default(),
            }
        })?;
        let side = if entry.record.client == pkt.src && entry.record.server == pkt.dst {
            Side::Client
        } else {
            Side::Server
        };
        entry
            .record
            .count(side, pkt.ts, pkt.wire_len, pkt.tcp_flags);
        Some((entry, side))
    }

    /// The flow a packet from `src` to `dst` belongs to, if it exists, and the sender's side.
    pub fn find_mut(
        &mut self,
        src: Endpoint,
        dst: Endpoint,
        transport: Transport,
    ) -> Option<(&mut FlowEntry<S>, Side)> {
        let (key, _) = FlowKey::new(src, dst, transport.ip_number());
        let entry = self.flows.get_mut(&key)?;
        let side = if entry.record.client == src {
            Side::Client
        } else {
            Side::Server
        };
        Some((entry, side))
    }

    /// Ends every remaining flow, oldest first, so output order does not depend on hashing.
    pub fn drain(&mut self, on_end: &mut impl FnMut(FlowEntry<S>, EndReason)) {
        self.flows.drain_sorted(
            |e| (e.record.first_seen, e.record.key),
            |e| on_end(e, EndReason::EndOfCapture),
        );
    }

    /// Ends flows idle at `now` when a sweep is due (every half timeout): live capture calls it
    /// while no packets arrive (on a timer, so it is never held back; see `maybe_sweep`).
    pub fn sweep(&mut self, now: Timestamp, on_end: &mut impl FnMut(FlowEntry<S>, EndReason)) {
        let _ = self.sweep_if_due(now, false, on_end);
    }

    /// [`FlowTable::sweep`] for a packet at `now`. A capture whose packets alternate between two
    /// times an interval apart would restart the interval and sweep (scan every flow) on every
    /// second packet: hours for a table of a million flows. Once time has gone back, a sweep
    /// waits for an eighth of the table's size in packets, so sweeping costs at most eight flows
    /// a packet; captures whose clock only moves forward never wait. True when a due sweep was
    /// held back: the packet's own flow is then judged as the sweep would have (`packet`).
    fn maybe_sweep(
        &mut self,
        now: Timestamp,
        on_end: &mut impl FnMut(FlowEntry<S>, EndReason),
    ) -> bool {
        self.packets_since_sweep = self.packets_since_sweep.saturating_add(1);
        self.sweep_if_due(now, true, on_end)
    }

    /// Sweeps when due; true when due but held back (`gated`, after time went back).
    fn sweep_if_due(
        &mut self,
        now: Timestamp,
        gated: bool,
        on_end: &mut impl FnMut(FlowEntry<S>, EndReason),
    ) -> bool {
        // Sweeping every half timeout bounds how long an idle flow lingers (1.5x the timeout).
        let interval = Duration((self.limits.idle_timeout.0 / 2).max(1_000_000_000));
        let last = match self.last_sweep {
            None => {
                self.last_sweep = Some(now);
                return false;
            }
            Some(last) if now < last => {
                // Time went backwards: restart the interval from here, expire nothing now.
                self.last_sweep = Some(now);
                self.went_back |= gated;
                return false;
            }
            Some(last) => last,
        };
        if now.saturating_since(last) < interval {
            return false;
        }
        if gated && self.went_back && self.packets_since_sweep < self.flows.len() / 8 {
            return true;
        }
        self.went_back = false;
        self.packets_since_sweep = 0;
        self.sweeps += 1;
        self.last_sweep = Some(now);
        let timeout = self.limits.idle_timeout;
        let mut idle: Vec<(Timestamp, FlowKey)> = self
            .flows
            .iter()
            .filter(|e| now.saturating_since(e.record.last_seen) > timeout)
            .map(|e| (e.record.first_seen, e.record.key))
            .collect();
        idle.sort_unstable();
        for (_, key) in idle {
            if let Some(entry) = self.flows.remove(&key) {
                self.stats.expired += 1;
                on_end(entry, EndReason::Idle);
            }
        }
        false
    }

    /// Ends the least recently seen sixteenth of a full table. A flow already idle past the
    /// timeout at `now` (a sweep was not yet due, or was held back) ends as idle: `evicted`
    /// means the table's limit cut a flow short, and the report counts those apart.
    fn evict_batch(&mut self, now: Timestamp, on_end: &mut impl FnMut(FlowEntry<S>, EndReason)) {
        // Evicting 1/16 of the table at once keeps the cost per new flow constant on average.
        let batch = (self.flows.len() / 16).max(1);
        let mut by_age: Vec<(Timestamp, FlowKey)> = self
            .flows
            .iter()
            .map(|e| (e.record.last_seen, e.record.key))
            .collect();
        if batch < by_age.len() {
            by_age.select_nth_unstable(batch);
            by_age.truncate(batch);
        }
        by_age.sort();
        let timeout = self.limits.idle_timeout;
        for (last_seen, key) in by_age {
            if let Some(entry) = self.flows.remove(&key) {
                if now.saturating_since(last_seen) > timeout {
                    self.stats.expired += 1;
                    on_end(entry, EndReason::Idle);
                } else {
                    self.stats.evicted += 1;
                    on_end(entry, EndReason::Evicted);
                }
            }
        }
    }
}

/// Decides client and server for a flow's first packet: the sender of a SYN is the client, the
/// sender of a SYN+ACK the server; otherwise the side with the higher port is the client (the
/// server usually listens on the lower, well-known port); equal ports: the sender.
fn orient(pkt: &PacketMeta) -> (Endpoint, Endpoint) {
    if let Some(flags) = pkt.tcp_flags {
        if flags.has(TcpFlags::SYN) {
            return if flags.has(TcpFlags::ACK) {
                (pkt.dst, pkt.src)
            } else {
                (pkt.src, pkt.dst)
            };
        }
    }
    if pkt.dst.port > pkt.src.port {
        (pkt.dst, pkt.src)
    } else {
        (pkt.src, pkt.dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(src: (&str, u16), dst: (&str, u16), flags: Option<u8>, secs: i64) -> PacketMeta {
        PacketMeta {
            src: Endpoint {
                ip: src.0.parse().unwrap(),
                port: src.1,
            },
            dst: Endpoint {
                ip: dst.0.parse().unwrap(),
                port: dst.1,
            },
            transport: if flags.is_some() {
                Transport::Tcp
            } else {
                Transport::Udp
            },
            tcp_flags: flags.map(TcpFlags),
            ts: Timestamp::from_secs_nanos(secs, 0),
            wire_len: 100,
            tunnel: TunnelPath::default(),
        }
    }

    fn run(table: &mut FlowTable<()>, pkts: &[PacketMeta]) -> Vec<(FlowRecord, EndReason)> {
        let mut ended = Vec::new();
        for p in pkts {
            let _ = table.packet(p, 0, &mut |e, r| ended.push((e.record, r)));
        }
        table.drain(&mut |e, r| ended.push((e.record, r)));
        ended
    }

    const C: (&str, u16) = ("10.0.0.1", 50000);
    const S: (&str, u16) = ("52.96.0.1", 443);

    #[test]
    fn syn_sender_is_client_even_from_high_to_low() {
        let mut t = FlowTable::new(TableLimits::default());
        let syn = TcpFlags::SYN;
        let sa = TcpFlags::SYN | TcpFlags::ACK;
        let ack = TcpFlags::ACK;
        let out = run(
            &mut t,
            &[
                meta(S, C, Some(syn), 0),
                meta(C, S, Some(sa), 0),
                meta(S, C, Some(ack), 0),
            ],
        );
        assert_eq!(out.len(), 1);
        let r = &out[0].0;
        assert_eq!(r.client.port, 443);
        assert!(r.handshake_completed && r.server_answered());
        assert_eq!((r.packets(Side::Client), r.packets(Side::Server)), (2, 1));
    }

    #[test]
    fn without_syn_higher_port_is_client() {
        let mut t = FlowTable::new(TableLimits::default());
        let out = run(&mut t, &[meta(S, C, None, 0)]);
        assert_eq!(out[0].0.client.port, 50000);
        // The only packet came from port 443: the server spoke, the client did not.
        assert!(out[0].0.server_answered());
        assert_eq!(out[0].0.packets(Side::Client), 0);
    }

    #[test]
    fn idle_flows_expire_on_capture_time_but_not_backwards() {
        let limits = TableLimits {
            max_flows: 10,
            idle_timeout: Duration::from_secs(60),
        };
        let mut t = FlowTable::new(limits);
        // Second file starts 1000 s earlier: the first flow must not be split.
        let out = run(
            &mut t,
            &[
                meta(C, S, None, 1000),
                meta(("10.0.0.2", 1234), S, None, 0),
                meta(C, S, None, 30),
                meta(C, S, None, 1010),
            ],
        );
        assert_eq!(out.len(), 2);
        // The flow from the later file is not split by the jump back in time...
        let c = out.iter().find(|(f, _)| f.client.port == 50000).unwrap();
        assert_eq!(
            (c.0.packets(Side::Client), c.1),
            (3, EndReason::EndOfCapture)
        );
        // ...while the flow last seen at 0 s is really idle once the clock reads 1010 s.
        let x = out.iter().find(|(f, _)| f.client.port == 1234).unwrap();
        assert_eq!(x.1, EndReason::Idle);
        // Forward in time past the timeout: the flow ends and a new one begins.
        let mut t = FlowTable::new(limits);
        let out = run(&mut t, &[meta(C, S, None, 0), meta(C, S, None, 200)]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].1, EndReason::Idle);
    }

    #[test]
    fn a_clock_swinging_back_and_forth_does_not_sweep_every_packet() {
        let limits = TableLimits {
            max_flows: 100_000,
            idle_timeout: Duration::from_secs(300),
        };
        let mut t: FlowTable<()> = FlowTable::new(limits);
        let flows: Vec<PacketMeta> = (0..8_000u32)
            .map(|i| {
                let ip = format!("10.1.{}.{}", i / 250, i % 250);
                meta((&ip, 40_000), S, None, 1_000)
            })
            .collect();
        let mut ended = 0;
        for p in &flows {
            let _ = t.packet(p, 0, &mut |_, _| ended += 1);
        }
        // 10,000 packets on one flow, at 1,000 s and 1,150 s by turns (half the timeout apart):
        // every flow stays within the timeout, and each pair used to cost a sweep.
        for k in 0..10_000 {
            let p = meta(C, S, None, if k % 2 == 0 { 1_150 } else { 1_000 });
            let _ = t.packet(&p, 0, &mut |_, _| ended += 1);
        }
        assert_eq!(ended, 0);
        // One sweep per 1,000 packets (an eighth of the 8,001 flows), not 5,000.
        assert!(t.sweeps <= 10, "{} sweeps", t.sweeps);
        // The clock moving on expires the idle flows all the same (the swinging flow too: its
        // last packet was at 1,000 s).
        let late = meta(C, S, None, 2_000);
        let _ = t.packet(&late, 0, &mut |_, _| ended += 1);
        let later = meta(C, S, None, 2_200);
        for _ in 0..1_001 {
            let _ = t.packet(&later, 0, &mut |_, _| ended += 1);
        }
        assert_eq!(ended, 8_001);
    }

    #[test]
    fn a_held_back_sweep_still_ends_the_packets_own_idle_flow_and_quiet_sweeps_run() {
        let limits = TableLimits {
            max_flows: 100_000,
            idle_timeout: Duration::from_secs(300),
        };
        let flows: Vec<PacketMeta> = (0..800u32)
            .map(|i| {
                meta(
                    (&format!("10.2.{}.{}", i / 250, i % 250), 40_000),
                    S,
                    None,
                    0,
                )
            })
            .collect();
        let mut t: FlowTable<()> = FlowTable::new(limits);
        let mut ended: Vec<(u16, EndReason)> = Vec::new();
        let feed = |t: &mut FlowTable<()>, p: &PacketMeta, ended: &mut Vec<(u16, EndReason)>| {
            let _ = t.packet(p, 0, &mut |e, r| ended.push((e.record.client.port, r)));
        };
        for p in &flows {
            feed(&mut t, p, &mut ended);
        }
        // A sweep at 160 s (nothing idle), then a step back to 159 s: sweeps are held back.
        feed(&mut t, &meta(C, S, None, 160), &mut ended);
        feed(&mut t, &meta(C, S, None, 159), &mut ended);
        // 400 s: the first flow has been idle 400 s; its packet starts a new flow, as before.
        feed(&mut t, &flows[0], &mut ended);
        let mut first = flows[0];
        first.ts = Timestamp::from_secs_nanos(400, 0);
        feed(&mut t, &first, &mut ended);
        assert_eq!(ended, [(40_000, EndReason::Idle)]);
        assert_eq!(t.len(), 801);
        // A quiet period (live capture's timer) is never held back: the rest end as idle.
        t.sweep(Timestamp::from_secs_nanos(700, 0), &mut |e, r| {
            ended.push((e.record.client.port, r))
        });
        assert_eq!(ended.len(), 1 + 799 + 1);
        assert!(ended.iter().all(|(_, r)| *r == EndReason::Idle));
    }

    #[test]
    fn cap_evicts_oldest_and_counts() {
        let limits = TableLimits {
            max_flows: 4,
            idle_timeout: Duration::from_secs(10_000),
        };
        let mut t = FlowTable::new(limits);
        let pkts: Vec<_> = (0..10)
            .map(|i| meta(("10.0.0.1", 40000 + i), S, None, i64::from(i)))
            .collect();
        let out = run(&mut t, &pkts);
        assert_eq!(out.len(), 10);
        assert_eq!(t.stats().evicted, 6);
        assert!(t.stats().peak_flows <= 4);
        let evicted: Vec<u16> = out
            .iter()
            .filter(|(_, r)| *r == EndReason::Evicted)
            .map(|(f, _)| f.client.port)
            .collect();
        assert_eq!(evicted, vec![40000, 40001, 40002, 40003, 40004, 40005]);
    }

    /// A full table whose oldest flows are already idle (a sweep held back after the clock
    /// stepped back) ends those as idle, not evicted: only live flows cut short are evictions.
    #[test]
    fn eviction_ends_already_idle_flows_as_idle() {
        let limits = TableLimits {
            max_flows: 64,
            idle_timeout: Duration::from_secs(300),
        };
        let mut t: FlowTable<()> = FlowTable::new(limits);
        let mut ended: Vec<(u16, EndReason)> = Vec::new();
        let mut feed = |t: &mut FlowTable<()>, port: u16, secs: i64| {
            let p = meta(("10.0.0.1", port), S, None, secs);
            let _ = t.packet(&p, 0, &mut |e, r| ended.push((e.record.client.port, r)));
        };
        // Two flows at 0 s and 62 at 100 s fill the table. A sweep at 160 s ends nothing; the
        // clock steps back to 159 s, so the next sweep waits for 8 packets (64 / 8).
        feed(&mut t, 40_000, 0);
        feed(&mut t, 40_001, 0);
        for port in 41_000..41_062 {
            feed(&mut t, port, 100);
        }
        feed(&mut t, 41_061, 160);
        feed(&mut t, 41_061, 159);
        // A new flow at 400 s: the sweep is held back and the full table evicts its oldest
        // sixteenth (4 flows). The two seen at 0 s have been idle 400 s: idle. The two seen at
        // 100 s, exactly the timeout ago, were still open: evicted.
        feed(&mut t, 50_000, 400);
        let idle: Vec<u16> = ended
            .iter()
            .filter(|(_, r)| *r == EndReason::Idle)
            .map(|(port, _)| *port)
            .collect();
        assert_eq!(idle, [40_000, 40_001]);
        assert_eq!(ended.len(), 4);
        assert_eq!(t.stats().expired, 2);
        assert_eq!(t.stats().evicted, 2);
        assert_eq!(t.len(), 61);
    }

    #[test]
    fn syn_after_close_starts_new_flow() {
        let mut t = FlowTable::new(TableLimits::default());
        let out = run(
            &mut t,
            &[
                meta(C, S, Some(TcpFlags::SYN), 0),
                meta(S, C, Some(TcpFlags::RST | TcpFlags::ACK), 0),
                meta(C, S, Some(TcpFlags::SYN), 1),
            ],
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].1, EndReason::PortReuse);
    }
}
