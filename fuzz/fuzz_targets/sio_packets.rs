//! Any bytes as websocket messages (split at `0x1e`; a message starting
//! with `0x00` is binary) of an engine.io v4 or v3 session (the first
//! byte's parity picks) connected to socket.io's `/`: socket.io packets and
//! binary attachments, through the real listener, engine and socket.io
//! server.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockgate_app::fuzzing::PacketFuzzer;

fuzz_target!(|data: &[u8]| {
    let _ = PacketFuzzer::shared().feed_websocket(data);
});
