//! Helpers for the recovery scenarios (`recovery.rs`, `cluster_recovery.rs`).

use serde_json::{json, Value};

use super::{Gateway, WAIT};

/// `{"epoch":…,"offset":…}` of a raw event frame: what a client keeps to
/// resume from.
pub fn position_of(event: &Value) -> Value {
    json!({"epoch": event["epoch"], "offset": event["offset"]})
}

/// Waits until the gateway has seen connection `sid` go (and so kept its
/// rooms for its resume token); needs the HTTP API.
pub async fn gone(gateway: &Gateway, sid: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while gateway.api_get(&format!("/api/connections/{sid}")).await.status != 404 {
        assert!(tokio::time::Instant::now() < deadline, "{sid} never went away");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
