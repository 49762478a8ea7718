//! Raw protocol v1 client frames (`crates/ws/src/protocol.rs`): any text a
//! client sends in a WebSocket text frame.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Text frames are UTF-8 by RFC 6455; tungstenite refuses anything else.
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = sockgate_ws::fuzzing::parse_client_frame(text);
    }
});
