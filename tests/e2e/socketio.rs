//! socket.io engine behaviour users rely on: namespaces, engine.io versions,
//! and events sent the instant a client connects.

use serde_json::json;

use crate::util::{Gateway, RawClient, SioClient, SioOptions};

#[tokio::test]
async fn an_unknown_namespace_gets_socketio_invalid_namespace_error() {
    let gateway = Gateway::start().await;
    let mut client = SioClient::spawn(
        &gateway,
        SioOptions {
            namespace: "/admin",
            ..SioOptions::default()
        },
    )
    .await;
    let error = client.expect_type("connect_error").await;
    assert_eq!(error["message"], "Invalid namespace");
}

#[tokio::test]
async fn extra_namespaces_share_the_rooms() {
    let gateway = Gateway::with_config("[socketio]\nnamespaces = [\"/\", \"/chat\"]\n").await;
    let mut chat = SioClient::connect_with(
        &gateway,
        SioOptions {
            namespace: "/chat",
            ..SioOptions::default()
        },
    )
    .await;
    let mut root = SioClient::connect(&gateway).await;
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    chat.join("r").await;
    root.join("r").await;
    raw.join("r").await;
    chat.publish("r", "hello", json!("from /chat")).await;
    assert_eq!(root.expect_event("hello").await, [json!("from /chat")]);
    assert_eq!(raw.recv_event().await["data"], "from /chat");
    chat.assert_no_event().await;
}

#[tokio::test]
async fn eio3_clients_are_refused_when_allow_eio3_is_false() {
    let gateway = Gateway::with_config("[socketio]\nallow_eio3 = false\n").await;
    let mut old = SioClient::spawn(
        &gateway,
        SioOptions {
            client: "v2",
            transports: "polling",
            ..SioOptions::default()
        },
    )
    .await;
    old.expect_type("connect_error").await;
    // v4 clients are unaffected.
    SioClient::connect(&gateway).await;
}

#[tokio::test]
async fn events_emitted_before_the_connection_is_up_are_not_lost() {
    let gateway = Gateway::start().await;
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    raw.join("early").await;
    for client in ["v4", "v2"] {
        let mut eager = SioClient::spawn(
            &gateway,
            SioOptions {
                client,
                emit_on_start: Some(json!([
                    {"cmd": "emit", "event": "join", "args": ["early"], "ack": 100},
                    {"cmd": "emit", "event": "publish", "args": [{"room": "early", "event": "hi", "data": client}], "ack": 101}
                ])),
                ..SioOptions::default()
            },
        )
        .await;
        for id in [100, 101] {
            loop {
                let line = eager.next().await;
                if line["type"] == "ack" && line["id"] == id {
                    assert_eq!(line["args"], json!([{"ok": true}]), "{client}");
                    break;
                }
            }
        }
        assert_eq!(raw.recv_event().await["data"], client);
    }
}

#[tokio::test]
async fn max_payload_is_enforced_on_the_websocket_transport_too() {
    let gateway = Gateway::with_config("[socketio]\nmax_payload = 10000\n").await;
    let mut bystander = SioClient::connect(&gateway).await;
    bystander.join("big").await;
    let mut sender = SioClient::connect(&gateway).await;
    sender
        .emit(
            "publish",
            json!([{"room": "big", "event": "e", "data": "x".repeat(20_000)}]),
        )
        .await;
    let disconnect = sender.expect_type("disconnect").await;
    assert!(
        disconnect["reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("transport"),
        "{disconnect}"
    );
    bystander.assert_no_event().await;
    // Under the limit still flows.
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    raw.publish("big", "e", json!("x".repeat(5_000))).await;
    assert_eq!(bystander.expect_event("e").await, [json!("x".repeat(5_000))]);
}
