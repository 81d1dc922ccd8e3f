//! What the flow table keeps per conversation, independent of any protocol above TCP/UDP.

use super::{Endpoint, FlowKey};
use crate::time::Timestamp;
use crate::wire::tunnel::TunnelPath;
use crate::wire::{TcpFlags, Transport};

/// Which side of a flow sent a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    Client,
    Server,
}

impl Side {
    fn index(self) -> usize {
        match self {
            Side::Client => 0,
            Side::Server => 1,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowRecord {
    pub key: FlowKey,
    pub transport: Transport,
    pub client: Endpoint,
    pub server: Endpoint,
    /// Index of the capture file (in run order) where the flow was first seen.
    pub capture: u32,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    packets: [u64; 2],
    bytes: [u64; 2],
    flags: [TcpFlags; 2],
    /// The client's SYN (without ACK) was seen.
    pub syn_seen: bool,
    /// The server's SYN+ACK was seen.
    pub syn_ack_seen: bool,
    /// SYN, SYN+ACK and the client's ACK were all seen.
    pub handshake_completed: bool,
    fin: [bool; 2],
    pub reset: bool,
    /// Encapsulations around the flow's first packet (mirror-port tunnels, 6in4, ...).
    pub tunnel: TunnelPath,
    /// An ICMP "destination unreachable" quoted one of this flow's packets.
    pub rejected_by_icmp: bool,
}

impl FlowRecord {
    pub fn new(
        key: FlowKey,
        transport: Transport,
        client: Endpoint,
        server: Endpoint,
        capture: u32,
        ts: Timestamp,
    ) -> Self {
        FlowRecord {
            key,
            transport,
            client,
            server,
            capture,
            first_seen: ts,
            last_seen: ts,
            packets: [0; 2],
            bytes: [0; 2],
            flags: [TcpFlags::default(); 2],
            syn_seen: false,
            syn_ack_seen: false,
            handshake_completed: false,
            fin: [false; 2],
            reset: false,
            tunnel: TunnelPath::default(),
            rejected_by_icmp: false,
        }
    }

    /// Counts one packet. Timestamps only widen the span, so merged captures whose clocks go
    /// backwards never shrink a flow.
    pub fn count(&mut self, side: Side, ts: Timestamp, wire_len: u32, tcp_flags: Option<TcpFlags>) {
        let i = side.index();
        if let Some(p) = self.packets.get_mut(i) {
            *p += 1;
        }
        if let Some(b) = self.bytes.get_mut(i) {
            *b += u64::from(wire_len);
        }
        self.first_seen = self.first_seen.min(ts);
        self.last_seen = self.last_seen.max(ts);
        let Some(flags) = tcp_flags else { return };
        if let Some(f) = self.flags.get_mut(i) {
            f.0 |= flags.0;
        }
        let syn = flags.has(TcpFlags::SYN);
        let ack = flags.has(TcpFlags::ACK);
        match side {
            Side::Client if syn && !ack => self.syn_seen = true,
            Side::Server if syn && ack => self.syn_ack_seen = true,
            Side::Client if ack && !syn && self.syn_seen && self.syn_ack_seen => {
                self.handshake_completed = true
            }
            _ => {}
        }
        if flags.has(TcpFlags::FIN) {
            if let Some(f) = self.fin.get_mut(i) {
                *f = true;
            }
        }
        if flags.has(TcpFlags::RST) {
            self.reset = true;
        }
    }

    /// Adds packets that arrived as later IP fragments of a datagram already counted once.
    pub fn credit(&mut self, side: Side, packets: u64, bytes: u64, last: Timestamp) {
        let i = side.index();
        if let Some(p) = self.packets.get_mut(i) {
            *p += packets;
        }
        if let Some(b) = self.bytes.get_mut(i) {
            *b += bytes;
        }
        self.last_seen = self.last_seen.max(last);
    }

    pub fn packets(&self, side: Side) -> u64 {
        self.packets.get(side.index()).copied().unwrap_or(0)
    }

    pub fn bytes(&self, side: Side) -> u64 {
        self.bytes.get(side.index()).copied().unwrap_or(0)
    }

    /// Union of the TCP flags each side sent.
    pub fn tcp_flags(&self, side: Side) -> TcpFlags {
        self.flags.get(side.index()).copied().unwrap_or_default()
    }

    pub fn server_answered(&self) -> bool {
        self.packets(Side::Server) > 0
    }

    /// Both sides sent FIN, or either reset: a new SYN on this key starts a new conversation.
    pub fn tcp_closed(&self) -> bool {
        self.reset || self.fin.iter().all(|f| *f)
    }
}
