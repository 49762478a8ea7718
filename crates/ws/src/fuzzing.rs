//! Entry points for the fuzz targets in `fuzz/` only: not API, no stability
//! promise, hidden from the docs.

use crate::protocol;

/// Runs every parser of client input in `protocol.rs` over `text` and
/// checks what the gateway would answer with is valid JSON; returns whether
/// `text` parsed as a client frame.
///
/// Panics (which is what a fuzzer looks for) when an answer built from the
/// parsed input is not valid JSON.
pub fn parse_client_frame(text: &str) -> bool {
    // The first-frame auth path parses the same text on its own.
    let _ = protocol::auth_token(text);
    match protocol::parse(text) {
        Ok((_frame, Some(id))) => {
            assert_json(&protocol::ack_ok(&id));
            true
        }
        Ok((_frame, None)) => true,
        Err(error) => {
            let answer = protocol::failure(error.id.as_deref(), error.code.as_str(), &error.message);
            assert_json(&answer);
            false
        }
    }
}

fn assert_json(text: &str) {
    assert!(
        serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok(),
        "gateway frame is not JSON: {text}"
    );
}
