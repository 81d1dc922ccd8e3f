//! ICMP and ICMPv6 errors: the quoted original header (`unreachable_original`, which marks the
//! flow it names as rejected) and the transport header of a reassembled datagram
//! (`transport_of`). Whatever they return comes from the bytes given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use o365flow::wire::l2l4::{transport_of, unreachable_original};
use o365flow::wire::Transport;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let transport = if selector & 1 == 0 {
        Transport::Icmp
    } else {
        Transport::Icmpv6
    };
    if let Some((_, _, _, _, protocol)) = unreachable_original(transport, rest) {
        // Only destination-unreachable messages quote a flow.
        assert_eq!(
            rest.first().copied(),
            Some(if selector & 1 == 0 { 3 } else { 1 })
        );
        let _ = Transport::from_ip_number(protocol);
    }
    if let Some((_, _, tcp, payload)) = transport_of(selector >> 1, rest) {
        assert!(payload.len() <= rest.len());
        if tcp.is_some() {
            assert_eq!(selector >> 1, 6);
        }
    }
});
