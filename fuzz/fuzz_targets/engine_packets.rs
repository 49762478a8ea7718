//! Any bytes as the body of an engine.io polling POST (v4 `\x1e` framing,
//! v3 string framing, v3 binary framing; the first byte picks), for a
//! session already connected to socket.io's `/`, through the real
//! listener, engine and socket.io server.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sockgate_app::fuzzing::PacketFuzzer;

fn fuzzer() -> &'static PacketFuzzer {
    static FUZZER: OnceLock<PacketFuzzer> = OnceLock::new();
    FUZZER.get_or_init(|| PacketFuzzer::new().expect("the gateway builds"))
}

fuzz_target!(|data: &[u8]| {
    // Polling carriers only: 0, 1, 2.
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let mut input = vec![first % 3];
    input.extend_from_slice(rest);
    let _ = fuzzer().feed(&input);
});
