//! Raw protocol v1 as a mini-program sees it: acks, errors that keep the
//! connection open, close codes, and slow consumers.

use std::time::Duration;

use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use crate::util::flood::flood;
use crate::util::{Gateway, RawClient, SioClient};

#[tokio::test]
async fn every_request_with_an_id_is_answered_exactly_once() {
    let gateway = Gateway::start().await;
    let mut client = RawClient::connect(&gateway.ws_url("/ws")).await;
    client
        .send(json!({"op": "join", "room": "a", "id": "first"}))
        .await;
    client.send(json!({"op": "leave", "room": "a", "id": 2})).await;
    client
        .send(json!({"op": "publish", "room": "a", "event": "e", "data": null, "id": 3}))
        .await;
    client.send(json!({"op": "ping", "id": 4})).await;
    assert_eq!(
        client.recv().await,
        json!({"op": "ack", "id": "first", "ok": true})
    );
    assert_eq!(client.recv().await, json!({"op": "ack", "id": 2, "ok": true}));
    assert_eq!(client.recv().await, json!({"op": "ack", "id": 3, "ok": true}));
    assert_eq!(client.recv().await, json!({"op": "pong"}));
    assert_eq!(client.recv().await, json!({"op": "ack", "id": 4, "ok": true}));
    client.assert_silent().await;
    // Requests without an id that succeed get no answer.
    client.send(json!({"op": "join", "room": "a"})).await;
    client.assert_silent().await;
}

#[tokio::test]
async fn bad_frames_get_an_error_and_the_connection_stays_open() {
    let gateway = Gateway::start().await;
    let mut client = RawClient::connect(&gateway.ws_url("/ws")).await;

    let cases: [(&str, &str); 5] = [
        ("this is not json", "invalid frame"),
        (r#"{"op":"dance"}"#, "unknown op \"dance\""),
        (r#"{"op":"join","room":42}"#, "invalid type: integer `42`"),
        (
            r#"{"op":"publish","room":"r"}"#,
            "op \"publish\" needs a string \"event\"",
        ),
        (r#"[1,2,3]"#, "invalid frame"),
    ];
    for (frame, message) in cases {
        client.send_text(frame).await;
        let error = client.recv().await;
        assert_eq!(error["op"], "error", "{frame} -> {error}");
        assert_eq!(error["error"]["code"], "bad_request", "{frame} -> {error}");
        let text = error["error"]["message"].as_str().unwrap_or_default();
        assert!(
            text.contains(message),
            "{frame}: {text:?} should mention {message:?}"
        );
    }
    // With an id, the same mistakes come back as a failed ack.
    client.send_text(r#"{"op":"dance","id":9}"#).await;
    assert_eq!(
        client.recv().await,
        json!({"op": "ack", "id": 9, "ok": false, "error": {"code": "bad_request", "message": "unknown op \"dance\""}})
    );

    client
        .send_message(Message::Binary(vec![0xde, 0xad].into()))
        .await;
    let error = client.recv().await;
    assert_eq!(error["error"]["code"], "unsupported");

    // Still open and working.
    client.join("still-here").await;
}

#[tokio::test]
async fn a_message_over_the_limit_closes_with_1009_and_others_are_unaffected() {
    let gateway = Gateway::with_config("[limits]\nmax_message_bytes = 1024\n").await;
    let mut bystander = RawClient::connect(&gateway.ws_url("/ws")).await;
    bystander.join("r").await;
    let mut client = RawClient::connect(&gateway.ws_url("/ws")).await;
    client.join("r").await;

    let big = json!({"op": "publish", "room": "r", "event": "e", "data": "x".repeat(2000)});
    client.send(big).await;
    let frame = client.expect_close().await.expect("a close frame");
    assert_eq!(frame.code, CloseCode::Size);
    assert_eq!(frame.reason.as_str(), "message too big");

    bystander.assert_silent().await;
    let mut other = RawClient::connect(&gateway.ws_url("/ws")).await;
    other.publish("r", "e", json!("small")).await;
    assert_eq!(bystander.recv_event().await["data"], "small");
}

#[tokio::test]
async fn the_gateway_answers_websocket_pings_and_closes_cleanly_on_request() {
    let gateway = Gateway::start().await;
    let mut client = RawClient::connect(&gateway.ws_url("/ws")).await;
    client
        .send_message(Message::Ping(b"are you there".to_vec().into()))
        .await;
    client.send(json!({"op": "ping"})).await;
    // tungstenite answers the ping with a pong before our JSON reply; the
    // helper skips control frames, so the JSON pong proves the order held.
    assert_eq!(client.recv().await, json!({"op": "pong"}));
    client.close().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_as_a_slow_consumer_and_others_get_everything() {
    let gateway =
        Gateway::with_config("[limits]\noutbound_queue = 64\nmessages_per_second = 1000000\nmessage_burst = 1000000\n[raw]\nwrite_buffer_bytes = 0\n").await;
    const EVENTS: usize = 8_000;
    let end = flood(&gateway, EVENTS, 2000, Duration::from_secs(20)).await;
    assert!(end.ended, "the slow consumer was never disconnected");
    assert!(
        end.received < EVENTS,
        "the slow client cannot have received everything"
    );
    if let Some(frame) = end.close {
        assert_eq!(frame.code, CloseCode::Policy);
        assert_eq!(frame.reason.as_str(), "slow consumer");
    }
    // Counted once, as raw.
    assert_eq!(crate::sio_engine::slow_consumers(&gateway, "raw", 1).await, 1);
    assert_eq!(
        crate::sio_engine::slow_consumers(&gateway, "socketio", 0).await,
        0
    );
}

#[tokio::test]
async fn disconnecting_leaves_every_room() {
    let gateway = Gateway::start().await;
    let mut leaver = RawClient::connect(&gateway.ws_url("/ws")).await;
    leaver.join("one").await;
    leaver.join("two").await;
    let mut leaver_sio = SioClient::connect(&gateway).await;
    leaver_sio.join("one").await;
    let mut stayer = RawClient::connect(&gateway.ws_url("/ws")).await;
    stayer.join("two").await;
    leaver.close().await;
    leaver_sio.disconnect().await;
    assert_eq!(
        leaver_sio.expect_type("disconnect").await["reason"],
        "io client disconnect"
    );

    let mut publisher = RawClient::connect(&gateway.ws_url("/ws")).await;
    for room in ["one", "two"] {
        publisher.publish(room, "after", Value::Null).await;
    }
    assert_eq!(stayer.recv_event().await["room"], "two");
    stayer.assert_silent().await;
}
