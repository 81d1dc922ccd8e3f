#![no_main]

use libfuzzer_sys::fuzz_target;
use o365flow::wire::tunnel::{
    capwap_data, geneve, gre, gtp_u, mpls, ppp, pppoe_session, teredo, vxlan, wlan_data,
};

fuzz_target!(|data: &[u8]| {
    let _ = gre(data);
    let _ = vxlan(data);
    let _ = geneve(data);
    let _ = gtp_u(data);
    let _ = teredo(data);
    let _ = capwap_data(data);
    let _ = wlan_data(data);
    let _ = mpls(data);
    let _ = pppoe_session(data);
    let _ = ppp(data);
});
