//! One bus: raw WebSocket and socket.io clients in the same room get each
//! other's events, in every combination and over every transport.

use serde_json::json;

use crate::util::{Gateway, RawClient, SioClient, SioOptions};

#[tokio::test]
async fn raw_publish_reaches_a_socketio_member() {
    let gateway = Gateway::start().await;
    let mut browser = SioClient::connect(&gateway).await;
    browser.join("act42").await;
    let mut mini = RawClient::connect(&gateway.ws_url("/ws")).await;
    mini.join("act42").await;

    mini.publish(
        "act42",
        "chat",
        json!({"text": "hi from the mini-program", "n": [1, 2.5, null]}),
    )
    .await;

    assert_eq!(
        browser.expect_event("chat").await,
        [json!({"text": "hi from the mini-program", "n": [1, 2.5, null]})]
    );
    mini.assert_silent().await;
}

#[tokio::test]
async fn socketio_publish_reaches_a_raw_member() {
    let gateway = Gateway::start().await;
    let mut mini = RawClient::connect(&gateway.ws_url("/ws")).await;
    mini.join("act42").await;
    let mut browser = SioClient::connect(&gateway).await;
    browser.join("act42").await;

    browser
        .publish("act42", "changeUserStatus", json!({"user": 7, "status": "away"}))
        .await;

    assert_eq!(
        mini.recv_event().await,
        json!({"op": "event", "room": "act42", "event": "changeUserStatus", "data": {"user": 7, "status": "away"}})
    );
    browser.assert_no_event().await;
}

#[tokio::test]
async fn raw_to_raw_and_socketio_to_socketio() {
    let gateway = Gateway::start().await;
    let mut a = RawClient::connect(&gateway.ws_url("/ws")).await;
    let mut b = RawClient::connect(&gateway.ws_url("/ws")).await;
    a.join("r").await;
    b.join("r").await;
    a.publish("r", "e", json!("plain string")).await;
    assert_eq!(b.recv_event().await["data"], "plain string");
    a.assert_silent().await;

    let mut x = SioClient::connect(&gateway).await;
    let mut y = SioClient::connect(&gateway).await;
    x.join("s").await;
    y.join("s").await;
    x.publish("s", "e", json!(42)).await;
    assert_eq!(y.expect_event("e").await, [json!(42)]);
    x.assert_no_event().await;
}

#[tokio::test]
async fn a_publish_reaches_both_protocols_at_once_and_only_room_members() {
    let gateway = Gateway::start().await;
    let mut raw_member = RawClient::connect(&gateway.ws_url("/ws")).await;
    let mut raw_outsider = RawClient::connect(&gateway.ws_url("/ws")).await;
    let mut sio_member = SioClient::connect(&gateway).await;
    let mut sio_outsider = SioClient::connect(&gateway).await;
    let mut publisher = RawClient::connect(&gateway.ws_url("/ws")).await;
    raw_member.join("act42").await;
    sio_member.join("act42").await;
    raw_outsider.join("other").await;
    sio_outsider.join("other").await;

    // Publishing does not require membership.
    publisher.publish("act42", "chat", json!({"m": 1})).await;

    assert_eq!(raw_member.recv_event().await["data"], json!({"m": 1}));
    assert_eq!(sio_member.expect_event("chat").await, [json!({"m": 1})]);
    raw_outsider.assert_silent().await;
    sio_outsider.assert_no_event().await;
}

#[tokio::test]
async fn per_sender_order_is_kept_across_protocols() {
    // The burst is a test of order, not of the rate limit.
    let gateway =
        Gateway::with_config("[limits]\nmessages_per_second = 100000\nmessage_burst = 100000\n").await;
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    let mut sio = SioClient::connect(&gateway).await;
    raw.join("order").await;
    sio.join("order").await;

    for n in 0..200 {
        raw.send(json!({"op": "publish", "room": "order", "event": "n", "data": n}))
            .await;
    }
    for n in 0..200 {
        assert_eq!(sio.expect_event("n").await, [json!(n)]);
    }
    for n in 0..200 {
        sio.emit("publish", json!([{"room": "order", "event": "m", "data": n}]))
            .await;
    }
    for n in 0..200 {
        assert_eq!(raw.recv_event().await["data"], n);
    }
}

#[tokio::test]
async fn socketio_over_polling_and_after_upgrade_meets_raw_clients() {
    let gateway = Gateway::start().await;
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    raw.join("act42").await;

    let mut polling = SioClient::connect_with(
        &gateway,
        SioOptions {
            transports: "polling",
            ..SioOptions::default()
        },
    )
    .await;
    assert_eq!(polling.transport, "polling");
    polling.join("act42").await;

    let mut upgrading = SioClient::spawn(
        &gateway,
        SioOptions {
            transports: "polling,websocket",
            ..SioOptions::default()
        },
    )
    .await;
    // The upgrade may complete before or after the namespace connect.
    upgrading.expect_type("connect").await;
    let mut transport = upgrading.current_transport().await;
    for _ in 0..50 {
        if transport == "websocket" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        transport = upgrading.current_transport().await;
    }
    assert_eq!(transport, "websocket", "polling should upgrade to websocket");
    upgrading.join("act42").await;

    raw.publish("act42", "chat", json!("to pollers")).await;
    assert_eq!(polling.expect_event("chat").await, [json!("to pollers")]);
    assert_eq!(upgrading.expect_event("chat").await, [json!("to pollers")]);

    polling.publish("act42", "chat", json!("from polling")).await;
    assert_eq!(raw.recv_event().await["data"], "from polling");
    assert_eq!(upgrading.expect_event("chat").await, [json!("from polling")]);
}

#[tokio::test]
async fn socketio_client_v2_eio3_meets_raw_and_v4_clients() {
    let gateway = Gateway::start().await;
    for transports in ["websocket", "polling"] {
        let room = format!("v2-{transports}");
        let mut old = SioClient::connect_with(
            &gateway,
            SioOptions {
                client: "v2",
                transports,
                ..SioOptions::default()
            },
        )
        .await;
        let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
        let mut modern = SioClient::connect(&gateway).await;
        old.join(&room).await;
        raw.join(&room).await;
        modern.join(&room).await;

        raw.publish(&room, "chat", json!({"from": "raw"})).await;
        assert_eq!(old.expect_event("chat").await, [json!({"from": "raw"})]);
        assert_eq!(modern.expect_event("chat").await, [json!({"from": "raw"})]);

        old.publish(&room, "chat", json!({"from": "v2"})).await;
        assert_eq!(raw.recv_event().await["data"], json!({"from": "v2"}));
        assert_eq!(modern.expect_event("chat").await, [json!({"from": "v2"})]);
    }
}

#[tokio::test]
async fn binary_attachments_reach_raw_clients_as_base64_and_socketio_clients_as_binary() {
    let gateway = Gateway::start().await;
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    raw.join("files").await;
    let mut sio = SioClient::connect(&gateway).await;
    let mut other = SioClient::connect(&gateway).await;
    sio.join("files").await;
    other.join("files").await;

    let ack = sio
        .emit_with_ack(
            "publish",
            json!([{"room": "files", "event": "upload", "data": {"name": "a.bin", "bytes": {"$bytes": "AAEC/w=="}}}]),
        )
        .await;
    assert_eq!(ack, [json!({"ok": true})]);

    assert_eq!(
        raw.recv_event().await["data"],
        json!({"name": "a.bin", "bytes": {"$binary": "AAEC/w=="}})
    );
    // socket.io members get real binary back.
    assert_eq!(
        other.expect_event("upload").await,
        [json!({"name": "a.bin", "bytes": {"$bytes": "AAEC/w=="}})]
    );
    // And the marker works from raw clients too.
    raw.publish("files", "upload", json!({"bytes": {"$binary": "AQID"}}))
        .await;
    assert_eq!(
        other.expect_event("upload").await,
        [json!({"bytes": {"$bytes": "AQID"}})]
    );
}
