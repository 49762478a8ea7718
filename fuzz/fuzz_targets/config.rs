//! `GatewayConfig::from_toml` on any text: a bad config is an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = sockgate_app::GatewayConfig::from_toml(text);
    }
});
