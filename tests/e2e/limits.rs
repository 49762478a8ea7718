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

/// Sends `frame` (JSON text as written, escapes kept) with id 900 and
/// returns its ack.
async fn raw_request_text(client: &mut RawClient, frame: &str) -> serde_json::Value {
    client.send_text(frame).await;
    loop {
        let reply = client.recv().await;
        if reply["op"] == "ack" && reply["id"] == 900 {
            return reply;
        }
    }
}

/// Regression (outside probe): `{"$binary":…}` objects written as plain
/// JSON bypassed the attachment limit — socket.io publishes were never
/// counted, and the raw count matched literal text while the outlet parsed
/// escaped names too (`\u0024binary`). Each socket.io member of the room
/// was then disconnected by socket.io-client's own limit, and in a room
/// with history the poisoned event was replayed at every resume. Now the
/// bus counts by parsing, as the outlet converts, whoever publishes.
#[tokio::test]
async fn binary_markers_written_as_json_count_against_the_limit_and_disturb_no_one() {
    let gateway = Gateway::with_config("[rooms]\nrecover = [\"hist*\"]\n").await;
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    raw.join("hist1").await;
    let mut on_ws = SioClient::connect(&gateway).await;
    on_ws.join("hist1").await;
    let polling = SioOptions {
        transports: "polling",
        ..SioOptions::default()
    };
    let mut on_polling = SioClient::connect_with(&gateway, polling).await;
    on_polling.join("hist1").await;

    // socket.io: eleven markers as plain JSON.
    let mut attacker = SioClient::connect(&gateway).await;
    let eleven = vec![json!({"$binary": "AQ=="}); 11];
    let ack = attacker
        .emit_with_ack(
            "publish",
            json!([{"room": "hist1", "event": "x", "data": eleven}]),
        )
        .await;
    assert_eq!(ack[0]["ok"], false, "{ack:?}");
    assert_eq!(ack[0]["error"]["code"], "limit_exceeded", "{ack:?}");
    assert_eq!(
        ack[0]["error"]["message"],
        "more than 10 binary attachments (limits.max_binary_attachments)"
    );

    // Raw: one literal marker and 2,000 escaped ones, then escaped ones only.
    let escaped = r#"{"\u0024binary":"AQ=="}"#;
    let mixed = format!(
        r#"{{"op":"publish","id":900,"room":"hist1","event":"x","data":[{{"$binary":"AQ=="}},{}]}}"#,
        vec![escaped; 2000].join(",")
    );
    let mut raw_attacker = RawClient::connect(&gateway.ws_url("/ws")).await;
    let ack = raw_request_text(&mut raw_attacker, &mixed).await;
    assert_eq!(ack["error"]["code"], "limit_exceeded", "{ack}");
    let only_escaped = format!(
        r#"{{"op":"publish","id":900,"room":"hist1","event":"x","data":[{}]}}"#,
        [escaped; 11].join(",")
    );
    let ack = raw_request_text(&mut raw_attacker, &only_escaped).await;
    assert_eq!(ack["error"]["code"], "limit_exceeded", "{ack}");
    // Through the API, too.
    let api = Gateway::with_config(&crate::util::api::api_config()).await;
    let response = api
        .api_post("/api/emit", &json!({"room": "r", "event": "x", "data": eleven}))
        .await;
    assert_eq!(response.status, 413, "{response:?}");
    assert_eq!(response.body["error"]["code"], "limit_exceeded", "{response:?}");

    // Nobody was disturbed, and nothing was kept: the next event is the
    // room's first, and every member gets it.
    raw_attacker.publish("hist1", "after", json!(1)).await;
    let event = raw.recv_event().await;
    assert_eq!(
        (&event["event"], &event["offset"]),
        (&json!("after"), &json!(1)),
        "{event}"
    );
    assert_eq!(on_ws.expect_event("after").await[0], json!(1));
    assert_eq!(on_polling.expect_event("after").await[0], json!(1));
}

/// Regression (outside probe): a payload nested deeper than serde_json
/// parses (128 levels) was accepted and reached socket.io members of a
/// room with history as `null`. It is refused now, with a clear error.
#[tokio::test]
async fn an_over_deep_payload_is_refused_with_a_clear_error() {
    let gateway = Gateway::with_config("[rooms]\nrecover = [\"hist*\"]\n").await;
    let mut member = SioClient::connect(&gateway).await;
    member.join("hist1").await;
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    let deep = format!("{}1{}", "[".repeat(130), "]".repeat(130));
    let frame = format!(r#"{{"op":"publish","id":900,"room":"hist1","event":"x","data":{deep}}}"#);
    let ack = raw_request_text(&mut raw, &frame).await;
    assert_eq!(ack["error"]["code"], "limit_exceeded", "{ack}");
    assert_eq!(
        ack["error"]["message"],
        "payload nests deeper than 64 levels (limits.max_payload_depth)"
    );
    let mut sio = SioClient::connect(&gateway).await;
    let nested = (0..70).fold(json!(1), |inner, _| json!([inner]));
    let ack = sio
        .emit_with_ack(
            "publish",
            json!([{"room": "hist1", "event": "x", "data": nested}]),
        )
        .await;
    assert_eq!(ack[0]["error"]["code"], "limit_exceeded", "{ack:?}");
    // Within the limit, the payload arrives whole.
    let fine = (0..60).fold(json!(1), |inner, _| json!([inner]));
    raw.publish("hist1", "ok", fine.clone()).await;
    assert_eq!(member.expect_event("ok").await[0], fine);
}
