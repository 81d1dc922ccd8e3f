#![no_main]

use libfuzzer_sys::fuzz_target;
use o365flow::wire::plaintext::{
    client_mail_command, header, http_request, http_response, server_banner, sip_message,
    sip_user_agent, socks5_greeting, socks_connect,
};

fuzz_target!(|data: &[u8]| {
    if let Some(request) = http_request(data) {
        // An absolute-URI target's authority and path come from the request line itself.
        if let Some(target) = request.absolute_target() {
            assert!(!target.is_empty());
        }
        if let Some(path) = request.absolute_path() {
            assert!(path.len() <= data.len() && path.first() == Some(&b'/'));
        }
    }
    let _ = http_response(data);
    let _ = server_banner(data, 25);
    let _ = client_mail_command(data);
    let _ = sip_message(data);
    let _ = sip_user_agent(data);
    let _ = header(data, b"host");
    let _ = socks_connect(data);
    let _ = socks5_greeting(data);
});
