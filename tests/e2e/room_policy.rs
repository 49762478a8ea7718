//! Room policy: which rooms may be joined and published to, name rules,
//! and the errors each protocol gets.

use serde_json::json;

use crate::util::{Gateway, RawClient, SioClient};

const POLICY: &str = r#"
[rooms]
allow_join = ["act:*", "lobby"]
allow_publish = ["act:*"]
max_name_bytes = 16
"#;

#[tokio::test]
async fn raw_clients_get_forbidden_and_bad_request_acks() {
    let gateway = Gateway::with_config(POLICY).await;
    let mut client = RawClient::connect(&gateway.ws_url("/ws")).await;

    let (ack, _) = client.request(json!({"op": "join", "room": "admin"})).await;
    assert_eq!(
        ack["error"],
        json!({"code": "forbidden", "message": "joining room \"admin\" is not allowed"})
    );
    assert_eq!(ack["ok"], false);
    client.join("lobby").await;
    let (ack, _) = client
        .request(json!({"op": "publish", "room": "lobby", "event": "e", "data": 1}))
        .await;
    assert_eq!(ack["error"]["code"], "forbidden");
    let (ack, _) = client
        .request(json!({"op": "join", "room": "act:this-is-far-too-long"}))
        .await;
    assert_eq!(
        ack["error"],
        json!({"code": "bad_request", "message": "room name must be 1..=16 bytes, got 24"})
    );
    let (ack, _) = client.request(json!({"op": "join", "room": ""})).await;
    assert_eq!(ack["error"]["code"], "bad_request");
    // Without an id, a refusal is an error frame.
    client.send(json!({"op": "join", "room": "admin"})).await;
    let error = client.recv().await;
    assert_eq!(error["op"], "error");
    assert_eq!(error["error"]["code"], "forbidden");
}

#[tokio::test]
async fn socketio_clients_get_the_same_refusals_in_their_acks() {
    let gateway = Gateway::with_config(POLICY).await;
    let mut client = SioClient::connect(&gateway).await;

    let ack = client.emit_with_ack("join", json!(["admin"])).await;
    assert_eq!(
        ack,
        [
            json!({"ok": false, "error": {"code": "forbidden", "message": "joining room \"admin\" is not allowed"}})
        ]
    );
    let ack = client
        .emit_with_ack("publish", json!([{"room": "lobby", "event": "e", "data": 1}]))
        .await;
    assert_eq!(ack[0]["error"]["code"], "forbidden");
    let ack = client.emit_with_ack("join", json!([{"not": "a string"}])).await;
    assert_eq!(ack[0]["error"]["code"], "bad_request");
    let ack = client.emit_with_ack("publish", json!(["just a string"])).await;
    assert_eq!(ack[0]["error"]["code"], "bad_request");
    client.join("act:1").await;
}

#[tokio::test]
async fn reserved_socketio_event_names_cannot_be_published() {
    let gateway = Gateway::start().await;
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    let mut browser = SioClient::connect(&gateway).await;
    browser.join("r").await;
    let (ack, _) = raw
        .request(json!({"op": "publish", "room": "r", "event": "disconnect", "data": null}))
        .await;
    assert_eq!(
        ack["error"],
        json!({"code": "bad_request", "message": "event name \"disconnect\" is reserved by socket.io"})
    );
    browser.assert_no_event().await;
}

#[tokio::test]
async fn renamed_control_events_free_the_default_names() {
    let gateway = Gateway::with_config(
        "[events]\njoin = \"sg:join\"\nleave = \"sg:leave\"\npublish = \"sg:publish\"\n",
    )
    .await;
    let mut client = SioClient::connect(&gateway).await;
    let ack = client.emit_with_ack("sg:join", json!(["r"])).await;
    assert_eq!(ack, [json!({"ok": true})]);
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    raw.join("r").await;
    let ack = client
        .emit_with_ack(
            "sg:publish",
            json!([{"room": "r", "event": "join", "data": "app event named join"}]),
        )
        .await;
    assert_eq!(ack, [json!({"ok": true})]);
    assert_eq!(raw.recv_event().await["event"], "join");
    // The old name is now an ordinary app event the gateway does not act on.
    client.emit("join", json!(["other"])).await;
    raw.publish("other", "e", json!(1)).await;
    client.assert_no_event().await;
}

#[tokio::test]
async fn per_connection_limits_refuse_then_disconnect_on_both_protocols() {
    let gateway = Gateway::with_config(
        "[limits]\nmessages_per_second = 1\nmessage_burst = 3\nmax_rooms_per_connection = 2\n",
    )
    .await;

    // Rooms per connection.
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    raw.join("a").await;
    raw.join("b").await;
    let (ack, _) = raw.request(json!({"op": "join", "room": "c"})).await;
    assert_eq!(ack["error"]["code"], "limit_exceeded", "{ack}");

    // The rate: the burst is spent; refusals, then the door.
    let (ack, _) = raw.request(json!({"op": "join", "room": "a"})).await;
    assert_eq!(ack["error"]["code"], "rate_limited", "{ack}");
    for _ in 0..4 {
        raw.send(json!({"op": "ping"})).await;
    }
    let frame = raw.expect_close().await.expect("a close frame");
    assert_eq!(
        frame.code,
        tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode::Policy
    );
    assert_eq!(frame.reason.as_str(), "rate limit exceeded");

    let mut sio = SioClient::connect(&gateway).await;
    for room in ["x", "y", "z"] {
        sio.emit_with_ack("join", json!([room])).await;
    }
    let ack = sio.emit_with_ack("join", json!(["w"])).await;
    assert_eq!(ack[0]["error"]["code"], "rate_limited", "{ack:?}");
    for _ in 0..4 {
        sio.emit("join", json!(["v"])).await;
    }
    assert_eq!(
        sio.expect_type("disconnect").await["reason"],
        "io server disconnect"
    );
}

#[tokio::test]
async fn connections_are_capped_per_ip_on_both_protocols_and_places_come_back() {
    let gateway = Gateway::with_config("[limits]\nmax_connections_per_ip = 2\n").await;
    let first = RawClient::connect(&gateway.ws_url("/ws")).await;
    let _second = SioClient::connect(&gateway).await;

    let over = crate::subprotocol::reqwest_like::upgrade(&gateway, "/ws", None).await;
    assert!(over.starts_with("HTTP/1.1 503"), "{over}");
    assert!(over.contains("too many connections from this address"), "{over}");
    let mut refused = SioClient::spawn(&gateway, crate::util::SioOptions::default()).await;
    assert_eq!(
        refused.expect_type("connect_error").await["message"],
        "too many connections from this address (limits.max_connections_per_ip)"
    );

    // A place comes back when a connection ends.
    first.close().await;
    let mut back = None;
    for _ in 0..50 {
        let answer = crate::subprotocol::reqwest_like::upgrade(&gateway, "/ws", None).await;
        if answer.starts_with("HTTP/1.1 101") {
            back = Some(answer);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(back.is_some(), "the raw client's place was never freed");
}
