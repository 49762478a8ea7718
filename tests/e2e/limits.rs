//! The limits of `[limits]` that are not about one message: new
//! connections per second per address, binary attachments, and the memory
//! budget of raw outbound queues.

use std::time::Duration;

use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::operations::sample;
use crate::subprotocol::reqwest_like::upgrade;
use crate::util::flood::flood;
use crate::util::{Gateway, RawClient, SioClient, SioOptions};

#[tokio::test]
async fn new_connections_over_the_per_address_rate_get_429_on_both_protocols() {
    // A burst of 3 and a token every 100 s: nothing refills during the test.
    let gateway =
        Gateway::with_config("[limits]\nconnects_per_second_per_ip = 0.01\nconnect_burst_per_ip = 3\n").await;
    let _first = RawClient::connect(&gateway.ws_url("/ws")).await;
    let _second = RawClient::connect(&gateway.ws_url("/ws")).await;
    let _third = SioClient::connect(&gateway).await;

    let raw = upgrade(&gateway, "/ws", None).await.to_ascii_lowercase();
    assert!(raw.starts_with("http/1.1 429"), "{raw}");
    assert!(raw.contains("retry-after: "), "{raw}");
    assert!(raw.contains("limits.connects_per_second_per_ip"), "{raw}");
    let handshake = gateway.http_get("/socket.io/?EIO=4&transport=polling").await;
    assert!(handshake.starts_with("HTTP/1.1 429"), "{handshake}");
    let mut refused = SioClient::spawn(&gateway, SioOptions::default()).await;
    refused.expect_type("connect_error").await;

    // Requests of sessions already open are not new connections.
    let polling = gateway
        .http_get("/socket.io/?EIO=4&transport=polling&sid=unknown")
        .await;
    assert!(polling.starts_with("HTTP/1.1 400"), "{polling}");
}

#[tokio::test]
async fn a_refused_address_gets_in_again_once_a_token_has_come_back() {
    let gateway =
        Gateway::with_config("[limits]\nconnects_per_second_per_ip = 1\nconnect_burst_per_ip = 1\n").await;
    let mut refused = None;
    for _ in 0..5 {
        let answer = upgrade(&gateway, "/ws", None).await;
        if answer.starts_with("HTTP/1.1 429") {
            refused = Some(answer);
            break;
        }
    }
    let refused = refused.expect("five upgrades in a row all got in at one per second");
    assert!(
        refused.to_ascii_lowercase().contains("retry-after: 1"),
        "{refused}"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = upgrade(&gateway, "/ws", None).await;
    assert!(again.starts_with("HTTP/1.1 101"), "{again}");
}

#[tokio::test]
async fn binary_attachments_beyond_the_limit_are_refused_on_both_protocols() {
    let gateway = Gateway::with_config("[limits]\nmax_binary_attachments = 2\n").await;
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    raw.join("files").await;
    let mut receiver = SioClient::connect(&gateway).await;
    receiver.join("files").await;

    let three = json!([{"$binary": "AQ=="}, {"$binary": "Ag=="}, {"$binary": "Aw=="}]);
    let (ack, _) = raw
        .request(json!({"op": "publish", "room": "files", "event": "up", "data": three}))
        .await;
    assert_eq!(ack["ok"], false, "{ack}");
    assert_eq!(ack["error"]["code"], "limit_exceeded", "{ack}");
    assert_eq!(
        ack["error"]["message"],
        "more than 2 binary attachments (limits.max_binary_attachments)"
    );
    // Two is within the limit, and socket.io receivers get real binary.
    raw.publish("files", "up", json!([{"$binary": "AQ=="}, {"$binary": "Ag=="}]))
        .await;
    assert_eq!(
        receiver.expect_event("up").await,
        [json!([{"$bytes": "AQ=="}, {"$bytes": "Ag=="}])]
    );

    // A socket.io packet with three attachments ends that connection, as
    // Node socket.io does; the other clients go on.
    let mut sender = SioClient::connect(&gateway).await;
    let data = json!({"a": {"$bytes": "AQ=="}, "b": {"$bytes": "Ag=="}, "c": {"$bytes": "Aw=="}});
    sender
        .emit("publish", json!([{"room": "files", "event": "up", "data": data}]))
        .await;
    let disconnect = sender.expect_type("disconnect").await;
    assert_eq!(disconnect["reason"], "transport close", "{disconnect}");
    raw.publish("files", "after", json!(1)).await;
    assert_eq!(receiver.expect_event("after").await, [json!(1)]);
}

#[tokio::test]
async fn over_the_memory_budget_a_client_far_behind_is_closed_and_the_memory_comes_back() {
    // The queue (4096) never fills in this run, so only the budget
    // (256 KiB of queued events) can close the client that does not read.
    const EVENTS: usize = 3000;
    let limits = "[limits]\noutbound_queue = 4096\nmessages_per_second = 1000000\nmessage_burst = 1000000\n";
    let gateway = Gateway::with_config(&format!("{limits}max_queued_bytes = 262144\n")).await;
    let outcome = flood(&gateway, EVENTS, 8000, Duration::from_secs(5)).await;
    assert_eq!(
        outcome.close.map(|f| u16::from(f.code)),
        Some(u16::from(CloseCode::Policy))
    );
    assert!(outcome.received < EVENTS, "{}", outcome.received);
    let metrics = gateway.http_get("/metrics").await;
    assert!(
        sample(&metrics, "sockgate_raw_queued_bytes") < 65536.0,
        "{metrics}"
    );

    // The same run with a large budget: nobody is closed, and the client
    // that did not read gets every event once it does.
    let gateway = Gateway::with_config(&format!("{limits}max_queued_bytes = 1073741824\n")).await;
    let outcome = flood(&gateway, EVENTS, 8000, Duration::from_secs(5)).await;
    assert!(outcome.close.is_none());
    assert_eq!(outcome.received, EVENTS);
}
