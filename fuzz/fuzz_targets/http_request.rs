//! Any bytes as one HTTP/1.1 connection to the real front listener (hyper
//! plus the router: socket.io, raw upgrades on /ws, /api, probes), over an
//! in-memory stream.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sockgate_app::fuzzing::RequestFuzzer;

fn fuzzer() -> &'static RequestFuzzer {
    static FUZZER: OnceLock<RequestFuzzer> = OnceLock::new();
    FUZZER.get_or_init(|| RequestFuzzer::new().expect("the default gateway builds"))
}

fuzz_target!(|data: &[u8]| {
    let _ = fuzzer().serve(data);
});
