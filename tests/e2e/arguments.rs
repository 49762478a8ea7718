//! Events with any number of arguments, end to end: socket.io clients get
//! them as separate arguments, raw clients as `data` (the first) plus
//! `args` (every one, when there are not exactly one), whoever sent them:
//! a client of either protocol, the HTTP API or a webhook answer. Binary
//! stays binary in any argument.

use serde_json::{json, Value};

use crate::util::api::api_config;
use crate::util::backend::Backend;
use crate::util::{Gateway, RawClient, SioClient, SioOptions};

/// Asserts that a refusal names both fields of the `data` or `args` rule.
fn names_data_and_args(message: &Value) {
    let message = message.as_str().unwrap_or_default();
    assert!(
        message.contains("\"data\"") && message.contains("\"args\""),
        "{message}"
    );
}

#[tokio::test]
async fn a_socketio_publish_of_three_arguments_reaches_socketio_as_three_and_raw_as_data_and_args() {
    let gateway = Gateway::start().await;
    let mut publisher = SioClient::connect(&gateway).await;
    let mut modern = SioClient::connect(&gateway).await;
    let v2 = SioOptions {
        client: "v2",
        ..SioOptions::default()
    };
    let mut old = SioClient::connect_with(&gateway, v2).await;
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    modern.join("game").await;
    old.join("game").await;
    raw.join("game").await;

    publisher
        .publish_args("game", "move", json!([1, "2", {"three": 3}]))
        .await;
    let three = [json!(1), json!("2"), json!({"three": 3})];
    assert_eq!(modern.expect_event("move").await, three);
    assert_eq!(old.expect_event("move").await, three);
    assert_eq!(
        raw.recv_event().await,
        json!({"op": "event", "room": "game", "event": "move", "data": 1, "args": [1, "2", {"three": 3}]})
    );

    // No argument at all: socket.io handlers get none, raw clients a null
    // `data` and an empty `args`.
    publisher.publish_args("game", "tick", json!([])).await;
    assert_eq!(modern.expect_event("tick").await, Vec::<Value>::new());
    assert_eq!(old.expect_event("tick").await, Vec::<Value>::new());
    assert_eq!(
        raw.recv_event().await,
        json!({"op": "event", "room": "game", "event": "tick", "data": null, "args": []})
    );

    // One argument in `args` is what `data` always was: no `args` field.
    publisher.publish_args("game", "one", json!([[1, 2]])).await;
    assert_eq!(modern.expect_event("one").await, [json!([1, 2])]);
    assert_eq!(
        raw.recv_event().await,
        json!({"op": "event", "room": "game", "event": "one", "data": [1, 2]})
    );

    // Both fields at once: refused, naming them.
    let ack = publisher
        .emit_with_ack(
            "publish",
            json!([{"room": "game", "event": "e", "data": 1, "args": [1]}]),
        )
        .await;
    assert_eq!(ack[0]["error"]["code"], "bad_request", "{ack:?}");
    names_data_and_args(&ack[0]["error"]["message"]);
    publisher.assert_no_event().await;
    modern.assert_no_event().await;
    raw.assert_silent().await;
}

#[tokio::test]
async fn binary_stays_binary_in_any_argument_whichever_protocol_publishes() {
    let gateway = Gateway::start().await;
    let mut sio_publisher = SioClient::connect(&gateway).await;
    let mut raw_publisher = RawClient::connect(&gateway.ws_url("/ws")).await;
    let mut sio = SioClient::connect(&gateway).await;
    let v2 = SioOptions {
        client: "v2",
        ..SioOptions::default()
    };
    let mut old = SioClient::connect_with(&gateway, v2).await;
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    sio.join("files").await;
    old.join("files").await;
    raw.join("files").await;

    // A raw client names the arguments in `args`, binary as {"$binary"}.
    raw_publisher
        .publish_args(
            "files",
            "upload",
            json!(["a.bin", {"$binary": "AAEC/w=="}, {"size": 4}]),
        )
        .await;
    let upload = [json!("a.bin"), json!({"$bytes": "AAEC/w=="}), json!({"size": 4})];
    assert_eq!(sio.expect_event("upload").await, upload);
    // socket.io protocol v4 (client 2.x) announces attachments its own way.
    assert_eq!(old.expect_event("upload").await, upload);
    assert_eq!(
        raw.recv_event().await["args"],
        json!(["a.bin", {"$binary": "AAEC/w=="}, {"size": 4}])
    );

    // A socket.io client sends a Buffer in its second argument.
    sio_publisher
        .publish_args("files", "upload", json!(["b.bin", {"bytes": {"$bytes": "AQID"}}]))
        .await;
    let upload = [json!("b.bin"), json!({"bytes": {"$bytes": "AQID"}})];
    assert_eq!(sio.expect_event("upload").await, upload);
    assert_eq!(old.expect_event("upload").await, upload);
    let event = raw.recv_event().await;
    assert_eq!(
        (&event["data"], &event["args"]),
        (&json!("b.bin"), &json!(["b.bin", {"bytes": {"$binary": "AQID"}}]))
    );

    // A raw `data` and `args` at once: refused, naming both.
    let (ack, _) = raw_publisher
        .request(json!({"op": "publish", "room": "files", "event": "e", "data": null, "args": [1]}))
        .await;
    assert_eq!(ack["error"]["code"], "bad_request", "{ack}");
    names_data_and_args(&ack["error"]["message"]);
    sio.assert_no_event().await;
    raw.assert_silent().await;
}

#[tokio::test]
async fn api_emit_takes_args_binary_included_and_none_at_all() {
    let gateway = Gateway::with_config(&api_config()).await;
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    let mut sio = SioClient::connect(&gateway).await;
    raw.join("act42").await;
    sio.join("act42").await;

    let response = gateway
        .api_post(
            "/api/emit",
            &json!({"room": "act42", "event": "move", "args": [1, {"$binary": "AAEC/w=="}, "x"]}),
        )
        .await;
    assert_eq!((response.status, &response.body), (200, &json!({"result": {}})));
    assert_eq!(
        sio.expect_event("move").await,
        [json!(1), json!({"$bytes": "AAEC/w=="}), json!("x")]
    );
    assert_eq!(
        raw.recv_event().await,
        json!({"op": "event", "room": "act42", "event": "move", "data": 1, "args": [1, {"$binary": "AAEC/w=="}, "x"]})
    );

    // Zero arguments, to one connection each.
    for sid in [&sio.id, &raw.sid] {
        let response = gateway
            .api_post("/api/emit", &json!({"sid": sid, "event": "ping", "args": []}))
            .await;
        assert_eq!(response.status, 200, "{:?}", response.body);
    }
    assert_eq!(sio.expect_event("ping").await, Vec::<Value>::new());
    assert_eq!(
        raw.recv_event().await,
        json!({"op": "event", "event": "ping", "data": null, "args": []})
    );

    // Both fields: 400, naming them.
    let response = gateway
        .api_post(
            "/api/emit",
            &json!({"room": "act42", "event": "e", "data": 1, "args": [1]}),
        )
        .await;
    assert_eq!(response.status, 400, "{:?}", response.body);
    assert_eq!(response.body["error"]["code"], "bad_request");
    names_data_and_args(&response.body["error"]["message"]);

    // Binary attachments count over every argument: 6 + 5 is over 10.
    let markers = |n: usize| Value::Array(vec![json!({"$binary": "AQ=="}); n]);
    let response = gateway
        .api_post(
            "/api/emit",
            &json!({"room": "act42", "event": "e", "args": [markers(6), markers(5)]}),
        )
        .await;
    assert_eq!(response.status, 413, "{:?}", response.body);
    assert_eq!(response.body["error"]["code"], "limit_exceeded");
    sio.assert_no_event().await;
    raw.assert_silent().await;
}

#[tokio::test]
async fn webhooks_get_every_argument_and_answer_emits_with_several() {
    // The backend hands the event's arguments back, reversed, to the
    // sender and to the room `watchers`.
    let backend = Backend::start(|_path, body: Value| async move {
        let mut args = body["args"].as_array().cloned().unwrap_or_default();
        args.reverse();
        let answer = json!({
            "ack": [{"ok": true}],
            "emit": [
                {"sender": true, "event": "moved", "args": args},
                {"room": "watchers", "event": "moved", "args": args, "except": [body["sid"]]},
            ],
        });
        (200, answer)
    })
    .await;
    let config = format!(
        "[[webhooks.routes]]\nevents = [\"move\"]\nurl = \"{}/events\"\n",
        backend.url
    );
    let gateway = Gateway::with_config(&config).await;
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    let mut sio = SioClient::connect(&gateway).await;
    let mut watcher = SioClient::connect(&gateway).await;
    watcher.join("watchers").await;

    // A raw emit with `args`: the webhook gets each, the answer's emits
    // reach both protocols with each.
    let (ack, mut frames) = raw
        .request(json!({"op": "emit", "event": "move", "args": [1, "2", {"three": 3}]}))
        .await;
    assert_eq!(ack["data"], json!({"ok": true}), "{ack}");
    assert_eq!(
        backend.wait_for("/events").await.body["args"],
        json!([1, "2", {"three": 3}])
    );
    if frames.is_empty() {
        frames.push(raw.recv_event().await);
    }
    assert_eq!(
        frames,
        [json!({"op": "event", "event": "moved", "data": {"three": 3}, "args": [{"three": 3}, "2", 1]})]
    );
    assert_eq!(
        watcher.expect_event("moved").await,
        [json!({"three": 3}), json!("2"), json!(1)]
    );

    // A socket.io emit with binary: the webhook gets {"$binary"}, and the
    // answer's emit gives socket.io clients binary again.
    let ack = sio.emit_with_ack("move", json!([{"$bytes": "AQID"}, "x"])).await;
    assert_eq!(ack, [json!({"ok": true})]);
    assert_eq!(
        sio.expect_event("moved").await,
        [json!("x"), json!({"$bytes": "AQID"})]
    );
    assert_eq!(
        watcher.expect_event("moved").await,
        [json!("x"), json!({"$bytes": "AQID"})]
    );
    let bodies = backend.received();
    assert_eq!(
        bodies.last().map(|request| &request.body["args"]),
        Some(&json!([{"$binary": "AQID"}, "x"]))
    );
}

#[tokio::test]
async fn connect_webhook_welcome_events_carry_several_arguments() {
    let backend = Backend::start(|_path, _body| async move {
        let welcome = json!({"event": "welcome", "args": [1, {"$binary": "AQID"}, "three"]});
        (200, json!({"allow": true, "emit": [welcome]}))
    })
    .await;
    let config = format!("[auth]\nwebhook_url = \"{}/connect\"\n", backend.url);
    let gateway = Gateway::with_config(&config).await;
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    assert_eq!(
        raw.recv().await,
        json!({"op": "event", "event": "welcome", "data": 1, "args": [1, {"$binary": "AQID"}, "three"]})
    );
    let mut sio = SioClient::spawn(&gateway, SioOptions::default()).await;
    sio.expect_type("connect").await;
    assert_eq!(
        sio.expect_event("welcome").await,
        [json!(1), json!({"$bytes": "AQID"}), json!("three")]
    );
}
