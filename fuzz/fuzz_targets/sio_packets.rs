//! Any bytes as websocket messages (split at `0x1e`; a message starting
//! with `0x00` is binary) of an engine.io v4 or v3 session (the first
//! byte's parity picks) connected to socket.io's `/`: socket.io packets and
//! binary attachments, through the real listener, engine and socket.io
//! server.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sockgate_app::fuzzing::PacketFuzzer;

fn fuzzer() -> &'static PacketFuzzer {
    static FUZZER: OnceLock<PacketFuzzer> = OnceLock::new();
    FUZZER.get_or_init(|| PacketFuzzer::new().expect("the gateway builds"))
}

fuzz_target!(|data: &[u8]| {
    // Websocket carriers only: 3, 4.
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let mut input = vec![3 + first % 2];
    input.extend_from_slice(rest);
    let _ = fuzzer().feed(&input);
});
