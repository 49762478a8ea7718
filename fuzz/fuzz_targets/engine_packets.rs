//! Any bytes as the body of an engine.io polling POST (v4 `\x1e` framing,
//! v3 string framing, v3 binary framing; the first byte picks), for a
//! session already connected to socket.io's `/`, through the real
//! listener, engine and socket.io server.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockgate_app::fuzzing::PacketFuzzer;

fuzz_target!(|data: &[u8]| {
    let _ = PacketFuzzer::shared().feed_polling(data);
});
