//! Node backends that emit through `@socket.io/redis-emitter` (the real npm
//! package, run by Node) reach sockgate clients of both protocols on every
//! node.

use std::process::Stdio;

use serde_json::{json, Value};
use tokio::process::Command;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::util::redis::RedisServer;
use crate::util::sio::js_dir;
use crate::util::{Gateway, RawClient, SioClient};

fn node_config(redis: &RedisServer) -> String {
    format!(
        "[cluster]\nredis_url = \"{}\"\nheartbeat = \"200ms\"\nnode_ttl = \"1s\"\ntimeout = \"10s\"\n",
        redis.url()
    )
}

/// Runs one emitter operation with the real package.
pub(crate) async fn emitter(redis: &RedisServer, op: Value) {
    emitter_at(&redis.url(), op).await;
}

/// Runs one emitter operation with the real package, on a client of the
/// Redis at `url`.
pub(crate) async fn emitter_at(url: &str, op: Value) {
    let output = Command::new("node")
        .current_dir(js_dir())
        .arg("emitter-peer.js")
        .args(["--redis", url, "--op", &op.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .await
        .expect("run emitter-peer.js");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains(r#""ok":true"#),
        "emitter {op}: {stdout}"
    );
}

#[tokio::test]
async fn emitter_emits_reach_rooms_and_everyone_on_every_node() {
    let redis = RedisServer::start().await;
    let a = Gateway::with_config(&node_config(&redis)).await;
    let b = Gateway::with_config(&node_config(&redis)).await;
    let mut raw_a = RawClient::connect(&a.ws_url("/ws")).await;
    let mut sio_b = SioClient::connect(&b).await;
    let mut skipped = RawClient::connect(&a.ws_url("/ws")).await;
    raw_a.join("act42").await;
    sio_b.join("act42").await;
    skipped.join("act42").await;
    skipped.join("muted").await;

    emitter(&redis, json!({"op": "emit", "event": "msg", "args": [{"text": "from Node"}], "rooms": ["act42"], "except": ["muted"]})).await;
    assert_eq!(
        raw_a.recv_event().await,
        json!({"op": "event", "room": "act42", "event": "msg", "data": {"text": "from Node"}})
    );
    assert_eq!(sio_b.expect_event("msg").await, [json!({"text": "from Node"})]);
    skipped.assert_silent().await;

    emitter(&redis, json!({"op": "emit", "event": "all", "args": [1]})).await;
    assert_eq!(raw_a.recv_event().await["event"], "all");
    assert_eq!(skipped.recv_event().await["event"], "all");
    assert_eq!(sio_b.expect_event("all").await, [json!(1)]);

    emitter(
        &redis,
        json!({"op": "emit", "event": "bin", "args": [{"$bytes": "AAEC/w=="}], "rooms": ["act42"]}),
    )
    .await;
    assert_eq!(raw_a.recv_event().await["data"], json!({"$binary": "AAEC/w=="}));
    assert_eq!(sio_b.expect_event("bin").await, [json!({"$bytes": "AAEC/w=="})]);
}

#[tokio::test]
async fn emitter_emits_keep_every_argument_and_dates_arrive_as_iso_strings() {
    let redis = RedisServer::start().await;
    let a = Gateway::with_config(&node_config(&redis)).await;
    let b = Gateway::with_config(&node_config(&redis)).await;
    let mut raw_a = RawClient::connect(&a.ws_url("/ws")).await;
    let mut sio_b = SioClient::connect(&b).await;
    raw_a.join("act42").await;
    sio_b.join("act42").await;

    // emitter.to("act42").emit("move", 1, "2", {three: 3},
    //     new Date(Date.UTC(2026, 11, 5, 12, 0, 0, 5)))
    let date = json!({"$date": "2026-12-05T12:00:00.005Z"});
    emitter(
        &redis,
        json!({"op": "emit", "event": "move", "args": [1, "2", {"three": 3}, date], "rooms": ["act42"]}),
    )
    .await;
    // A Date reaches clients as the string Node's socket.io clients see.
    let four = [
        json!(1),
        json!("2"),
        json!({"three": 3}),
        json!("2026-12-05T12:00:00.005Z"),
    ];
    assert_eq!(sio_b.expect_event("move").await, four);
    assert_eq!(
        raw_a.recv_event().await,
        json!({"op": "event", "room": "act42", "event": "move", "data": 1, "args": four})
    );

    // Binary in a later argument stays binary; no argument is none.
    emitter(
        &redis,
        json!({"op": "emit", "event": "bin", "args": ["x", {"$bytes": "AQID"}], "rooms": ["act42"]}),
    )
    .await;
    assert_eq!(
        sio_b.expect_event("bin").await,
        [json!("x"), json!({"$bytes": "AQID"})]
    );
    assert_eq!(
        raw_a.recv_event().await["args"],
        json!(["x", {"$binary": "AQID"}])
    );
    emitter(&redis, json!({"op": "emit", "event": "bare", "rooms": ["act42"]})).await;
    assert_eq!(sio_b.expect_event("bare").await, Vec::<Value>::new());
    assert_eq!(
        raw_a.recv_event().await,
        json!({"op": "event", "room": "act42", "event": "bare", "data": null, "args": []})
    );
}

#[tokio::test]
async fn emitter_joins_leaves_and_disconnects_sockets() {
    let redis = RedisServer::start().await;
    let a = Gateway::with_config(&node_config(&redis)).await;
    let b = Gateway::with_config(&node_config(&redis)).await;
    let mut raw_a = RawClient::connect(&a.ws_url("/ws")).await;
    let mut sio_b = SioClient::connect(&b).await;
    raw_a.join("a").await;
    sio_b.join("a").await;

    emitter(
        &redis,
        json!({"op": "socketsJoin", "rooms": ["new"], "in": ["a"]}),
    )
    .await;
    emitter(
        &redis,
        json!({"op": "emit", "event": "hello", "args": ["new room"], "rooms": ["new"]}),
    )
    .await;
    assert_eq!(raw_a.recv_event().await["room"], "new");
    assert_eq!(sio_b.expect_event("hello").await, [json!("new room")]);

    emitter(
        &redis,
        json!({"op": "socketsLeave", "rooms": ["new"], "in": ["a"]}),
    )
    .await;
    emitter(
        &redis,
        json!({"op": "emit", "event": "hello", "args": ["gone"], "rooms": ["new"]}),
    )
    .await;
    raw_a.assert_silent().await;
    sio_b.assert_no_event().await;

    emitter(
        &redis,
        json!({"op": "disconnectSockets", "close": false, "in": ["a"]}),
    )
    .await;
    assert_eq!(
        raw_a.expect_close().await.expect("close").code,
        CloseCode::from(4000)
    );
    assert_eq!(
        sio_b.expect_type("disconnect").await["reason"],
        "io server disconnect"
    );
}
