//! The server HTTP API, driven like a backend would drive it, with raw and
//! socket.io clients on the receiving end.

use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::util::api::{api_config, API_KEY};
use crate::util::{Gateway, RawClient, SioClient, SioOptions};

#[tokio::test]
async fn the_api_is_off_until_a_key_is_configured() {
    let gateway = Gateway::start().await;
    let response = gateway
        .api_post("/api/emit", &json!({"event": "e", "all": true}))
        .await;
    assert_eq!(response.status, 404);
}

#[tokio::test]
async fn a_missing_or_wrong_key_gets_401() {
    let gateway = Gateway::with_config(&api_config()).await;
    for key in [
        None,
        Some("wrong-key-0123456789abc"),
        Some(&API_KEY[..API_KEY.len() - 1]),
    ] {
        let response = gateway
            .api_request("POST", "/api/emit", Some(r#"{"event":"e","all":true}"#), key)
            .await;
        assert_eq!(response.status, 401, "{key:?}");
        assert_eq!(response.body["error"]["code"], "unauthorized");
        assert!(
            response.headers.contains("www-authenticate: bearer"),
            "{}",
            response.headers
        );
    }
    // Unknown endpoints are not revealed to unauthenticated callers either.
    let response = gateway.api_request("GET", "/api/secret", None, None).await;
    assert_eq!(response.status, 401);
}

#[tokio::test]
async fn emit_to_a_room_reaches_both_protocols_except_the_listed_sids() {
    let gateway = Gateway::with_config(&api_config()).await;
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    let mut skipped = RawClient::connect(&gateway.ws_url("/ws")).await;
    let mut sio = SioClient::connect(&gateway).await;
    let mut sio_skipped = SioClient::connect(&gateway).await;
    for client in [&mut raw, &mut skipped] {
        client.join("act42").await;
    }
    for client in [&mut sio, &mut sio_skipped] {
        client.join("act42").await;
    }

    let response = gateway
        .api_post(
            "/api/emit",
            &json!({"room": "act42", "event": "msg", "data": {"from": "backend"}, "except": [skipped.sid, sio_skipped.id]}),
        )
        .await;
    assert_eq!((response.status, &response.body), (200, &json!({"result": {}})));

    assert_eq!(
        raw.recv_event().await,
        json!({"op": "event", "room": "act42", "event": "msg", "data": {"from": "backend"}})
    );
    assert_eq!(sio.expect_event("msg").await, [json!({"from": "backend"})]);
    skipped.assert_silent().await;
    sio_skipped.assert_no_event().await;
}

#[tokio::test]
async fn emit_to_several_rooms_delivers_once_per_connection() {
    let gateway = Gateway::with_config(&api_config()).await;
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    let mut sio = SioClient::connect(&gateway).await;
    for room in ["a", "b"] {
        raw.join(room).await;
        sio.join(room).await;
    }
    let response = gateway
        .api_post(
            "/api/emit",
            &json!({"rooms": ["a", "b"], "event": "once", "data": 1}),
        )
        .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(raw.recv_event().await["event"], "once");
    assert_eq!(sio.expect_event("once").await, [json!(1)]);
    raw.assert_silent().await;
    sio.assert_no_event().await;
}

#[tokio::test]
async fn emit_to_one_connection_and_to_everyone() {
    let gateway = Gateway::with_config(&api_config()).await;
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    let mut sio = SioClient::connect(&gateway).await;

    gateway
        .api_post(
            "/api/emit",
            &json!({"sid": raw.sid, "event": "direct", "data": "to raw"}),
        )
        .await;
    assert_eq!(
        raw.recv_event().await,
        json!({"op": "event", "event": "direct", "data": "to raw"})
    );
    gateway
        .api_post(
            "/api/emit",
            &json!({"sid": sio.id, "event": "direct", "data": "to sio"}),
        )
        .await;
    assert_eq!(sio.expect_event("direct").await, [json!("to sio")]);
    raw.assert_silent().await;

    let response = gateway
        .api_post(
            "/api/emit",
            &json!({"all": true, "event": "news", "data": [1, 2]}),
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(raw.recv_event().await["data"], json!([1, 2]));
    assert_eq!(sio.expect_event("news").await, [json!([1, 2])]);

    let response = gateway
        .api_post(
            "/api/emit",
            &json!({"sid": "AAAAAAAAAAAAAAAA", "event": "direct"}),
        )
        .await;
    assert_eq!(response.status, 404);
    assert_eq!(response.body["error"]["code"], "not_found");
}

#[tokio::test]
async fn the_backend_moves_connections_between_rooms() {
    let gateway = Gateway::with_config(&api_config()).await;
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    let mut sio = SioClient::connect(&gateway).await;
    let mut publisher = RawClient::connect(&gateway.ws_url("/ws")).await;

    for sid in [&raw.sid, &sio.id] {
        let response = gateway
            .api_post("/api/join", &json!({"sid": sid, "rooms": ["vip", "act42"]}))
            .await;
        assert_eq!(response.body, json!({"result": {"connections": 1}}));
    }
    publisher.publish("vip", "hello", json!("vip only")).await;
    assert_eq!(raw.recv_event().await["data"], "vip only");
    assert_eq!(sio.expect_event("hello").await, [json!("vip only")]);

    for sid in [&raw.sid, &sio.id] {
        gateway
            .api_post("/api/leave", &json!({"sid": sid, "room": "vip"}))
            .await;
    }
    publisher.publish("vip", "hello", json!("again")).await;
    raw.assert_silent().await;
    sio.assert_no_event().await;
    publisher.publish("act42", "hello", json!("still in act42")).await;
    assert_eq!(raw.recv_event().await["data"], "still in act42");
    assert_eq!(sio.expect_event("hello").await, [json!("still in act42")]);
}

#[tokio::test]
async fn the_backend_disconnects_connections_of_both_protocols() {
    let gateway = Gateway::with_config(&api_config()).await;
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    let mut sio = SioClient::connect(&gateway).await;

    let response = gateway
        .api_post("/api/disconnect", &json!({"sid": raw.sid}))
        .await;
    assert_eq!(response.body, json!({"result": {"connections": 1}}));
    let frame = raw.expect_close().await.expect("a close frame");
    assert_eq!(frame.code, CloseCode::from(4000));
    assert_eq!(frame.reason.as_str(), "disconnected by the server");

    gateway.api_post("/api/disconnect", &json!({"sid": sio.id})).await;
    assert_eq!(
        sio.expect_type("disconnect").await["reason"],
        "io server disconnect"
    );

    let response = gateway
        .api_post("/api/disconnect", &json!({"sid": raw.sid}))
        .await;
    assert_eq!(response.status, 404);
}

#[tokio::test]
async fn rooms_members_and_connection_info() {
    let gateway = Gateway::with_config(&api_config()).await;
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    let mut sio = SioClient::connect(&gateway).await;
    raw.join("act:42").await;
    raw.join("lobby").await;
    sio.join("act:42").await;

    let rooms = gateway.api_get("/api/rooms").await;
    assert_eq!(
        rooms.body,
        json!({"result": {"rooms": [{"room": "act:42", "members": 2}, {"room": "lobby", "members": 1}]}})
    );
    let room = gateway.api_get("/api/rooms/act%3A42").await;
    let mut members: Vec<String> = room.body["result"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_owned())
        .collect();
    members.sort();
    let mut expected = vec![raw.sid.clone(), sio.id.clone()];
    expected.sort();
    assert_eq!(members, expected);
    assert_eq!(room.body["result"]["count"], 2);
    assert_eq!(gateway.api_get("/api/rooms/nowhere").await.status, 404);

    let info = gateway
        .api_get(&format!("/api/connections/{}", raw.sid))
        .await
        .body["result"]
        .clone();
    assert_eq!(info["protocol"], "raw");
    assert_eq!(info["rooms"], json!(["act:42", "lobby"]));
    assert!(info["peer"].as_str().unwrap().starts_with("127.0.0.1:"), "{info}");
    assert!(info["connected_since"].as_str().unwrap().ends_with('Z'), "{info}");
    let info = gateway
        .api_get(&format!("/api/connections/{}", sio.id))
        .await
        .body["result"]
        .clone();
    assert_eq!(info["protocol"], "socket.io");
    assert_eq!(info["namespace"], "/");
    assert_eq!(info["user"], json!(null));
}

#[tokio::test]
async fn bad_requests_get_clear_json_errors() {
    let gateway = Gateway::with_config(&format!("{}max_body_bytes = 1024\n", api_config())).await;
    let big = json!({"all": true, "event": "e", "data": "x".repeat(2000)});
    let response = gateway.api_post("/api/emit", &big).await;
    assert_eq!(response.status, 413);
    assert_eq!(response.body["error"]["code"], "payload_too_large");

    let response = gateway
        .api_request("POST", "/api/emit", Some("{not json"), Some(API_KEY))
        .await;
    assert_eq!(response.status, 400);
    assert!(response.body["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("invalid request body"));

    let response = gateway
        .api_post("/api/emit", &json!({"event": "e", "room": "a", "all": true}))
        .await;
    assert_eq!(response.status, 400);
    assert!(response.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("exactly one target"));

    let response = gateway
        .api_post("/api/emit", &json!({"event": "e", "all": true, "colour": "red"}))
        .await;
    assert_eq!(response.status, 400);
    assert!(response.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("unknown field `colour`"));

    let response = gateway
        .api_post("/api/emit", &json!({"event": "disconnect", "all": true}))
        .await;
    assert_eq!(response.status, 400);

    let response = gateway.api_request("GET", "/api/emit", None, Some(API_KEY)).await;
    assert_eq!(response.status, 405);
    assert!(response.headers.contains("allow: post"), "{}", response.headers);

    let response = gateway.api_get("/api/nope").await;
    assert_eq!(response.status, 404);

    // A node that runs alone says so.
    assert_eq!(
        gateway.api_get("/api/cluster").await.body,
        json!({"result": {"clustered": false}})
    );
}

#[tokio::test]
async fn stats_and_the_newest_connections_show_protocols_and_transports() {
    let gateway = Gateway::with_config(&api_config()).await;
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    let mut listener = RawClient::connect(&gateway.ws_url("/ws")).await;
    raw.join("lobby").await;
    listener.join("lobby").await;
    let websocket = SioClient::connect(&gateway).await;
    let polling = SioClient::connect_with(
        &gateway,
        SioOptions {
            transports: "polling",
            ..SioOptions::default()
        },
    )
    .await;

    let stats = gateway.api_get("/api/stats").await.body["result"].clone();
    assert_eq!(
        stats["connections"],
        json!({"total": 4, "raw": 2, "socketio_websocket": 1, "socketio_polling": 1})
    );
    assert_eq!(stats["rooms"], 1);
    assert_eq!(stats["history"]["interval_seconds"], 5);

    let newest = gateway.api_get("/api/connections?limit=2").await.body["result"]["connections"].clone();
    let listed: Vec<(&str, &str)> = newest
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["sid"].as_str().unwrap(), c["transport"].as_str().unwrap()))
        .collect();
    assert_eq!(
        listed,
        [
            (polling.id.as_str(), "polling"),
            (websocket.id.as_str(), "websocket")
        ]
    );
    let all = gateway.api_get("/api/connections").await.body["result"]["connections"].clone();
    assert_eq!(all.as_array().unwrap().len(), 4);
    assert_eq!(all[3]["sid"], json!(raw.sid), "the oldest comes last");
    assert_eq!(all[3]["rooms"], json!(["lobby"]));
    for bad in ["0", "1001", "many"] {
        let response = gateway.api_get(&format!("/api/connections?limit={bad}")).await;
        assert_eq!(response.status, 400, "limit={bad}");
        assert_eq!(response.body["error"]["code"], "bad_request");
    }

    // The three publishes show up in the five-second samples (maybe split
    // over two of them).
    for n in 0..3 {
        raw.publish("lobby", "chat", json!(n)).await;
        listener.recv_event().await;
    }
    let total = |samples: &[serde_json::Value], key: &str| -> u64 {
        samples.iter().filter_map(|s| s[key].as_u64()).sum()
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    let samples = loop {
        let stats = gateway.api_get("/api/stats").await.body["result"].clone();
        let samples = stats["history"]["samples"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if total(&samples, "publishes") >= 3 {
            break samples;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the publishes never showed: {stats}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    assert_eq!(total(&samples, "publishes"), 3, "{samples:?}");
    assert_eq!(total(&samples, "deliveries"), 3, "{samples:?}");
    assert!(
        total(&samples, "messages_in") >= 3 + 2,
        "joins and publishes: {samples:?}"
    );
    assert_eq!(samples.last().unwrap()["connections"], 4, "{samples:?}");
}
