//! Webhooks against a real HTTP backend: event round trips with acks on
//! both protocols, full socket.io fidelity, a backend that is down or slow,
//! connect allow/deny with welcome events, and disconnect reports.

use std::time::Duration;

use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::util::backend::Backend;
use crate::util::{close_frame_of, Gateway, RawClient, SioClient, SioOptions};

/// Config routing `events` to `backend`'s `/events`, plus `extra`.
fn routed(backend: &str, events: &str, extra: &str) -> String {
    format!("{extra}\n[[webhooks.routes]]\nevents = [{events}]\nurl = \"{backend}/events\"\n")
}

/// A backend that acks `{"ok":true,"args":…}`, makes the sender join
/// `joined-by-backend`, and relays `changeUserStatus` to that room.
async fn status_backend() -> Backend {
    Backend::start(|_path, body: Value| async move {
        let answer = json!({
            "ack": [{"ok": true, "args": body["args"], "user": body["user"]}],
            "join": ["joined-by-backend"],
            "emit": [
                {"room": "joined-by-backend", "event": "userStatus", "data": body["args"][0], "except": [body["sid"]]},
                {"sender": true, "event": "saved", "data": body["event"]}
            ]
        });
        (200, answer)
    })
    .await
}

#[tokio::test]
async fn an_event_round_trip_acks_both_protocols_and_applies_the_backend_answer() {
    let backend = status_backend().await;
    let gateway = Gateway::with_config(&routed(&backend.url, "\"changeUserStatus\"", "")).await;
    let mut sio = SioClient::connect(&gateway).await;
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;

    let ack = sio
        .emit_with_ack("changeUserStatus", json!([{"status": "away"}]))
        .await;
    assert_eq!(
        ack,
        [json!({"ok": true, "args": [{"status": "away"}], "user": null})]
    );
    assert_eq!(sio.expect_event("saved").await, [json!("changeUserStatus")]);

    let (ack, before) = raw
        .request(json!({"op": "emit", "event": "changeUserStatus", "data": {"status": "busy"}}))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(
        ack["data"],
        json!({"ok": true, "args": [{"status": "busy"}], "user": null})
    );
    // The sender's own "saved" event may come before or after its ack.
    let mut frames = before;
    if !frames.iter().any(|f| f["event"] == "saved") {
        frames.push(raw.recv_event().await);
    }
    assert!(frames.iter().any(|f| f["event"] == "saved"), "{frames:?}");
    // The socket.io client was put in joined-by-backend and hears the raw client.
    assert_eq!(sio.expect_event("userStatus").await, [json!({"status": "busy"})]);

    let request = backend.wait_for("/events").await.body;
    assert_eq!(request["type"], "event");
    assert_eq!(request["protocol"], "socket.io");
    assert_eq!(request["sid"], sio.id);
    assert_eq!(request["namespace"], "/");
}

#[tokio::test]
async fn socketio_events_keep_every_argument_and_binary_both_ways() {
    let backend =
        Backend::start(
            |_path, body: Value| async move { (200, json!({"ack": [body["args"][2], "second", 3]})) },
        )
        .await;
    let gateway = Gateway::with_config(&routed(&backend.url, "\"upload\"", "")).await;
    let mut sio = SioClient::connect(&gateway).await;

    let ack = sio
        .emit_with_ack("upload", json!(["a.bin", {"size": 4}, {"$bytes": "AAEC/w=="}]))
        .await;
    assert_eq!(ack, [json!({"$bytes": "AAEC/w=="}), json!("second"), json!(3)]);

    let request = backend.wait_for("/events").await.body;
    assert_eq!(
        request["args"],
        json!(["a.bin", {"size": 4}, {"$binary": "AAEC/w=="}])
    );
}

#[tokio::test]
async fn an_event_with_no_route_gets_no_handler() {
    let backend = status_backend().await;
    let gateway = Gateway::with_config(&routed(&backend.url, "\"routed\"", "")).await;
    let mut sio = SioClient::connect(&gateway).await;
    let ack = sio.emit_with_ack("unrouted", json!([1])).await;
    assert_eq!(ack[0]["ok"], false);
    assert_eq!(ack[0]["error"]["code"], "no_handler");
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    let (ack, _) = raw
        .request(json!({"op": "emit", "event": "unrouted", "data": 1}))
        .await;
    assert_eq!(ack["error"]["code"], "no_handler");
    assert!(backend.received().is_empty());

    // And without any webhooks configured at all.
    let bare = Gateway::start().await;
    let mut raw = RawClient::connect(&bare.ws_url("/ws")).await;
    let (ack, _) = raw
        .request(json!({"op": "emit", "event": "anything", "data": 1}))
        .await;
    assert_eq!(ack["error"]["code"], "no_handler");
}

#[tokio::test]
async fn a_dead_backend_gets_backend_unavailable_and_others_are_unaffected() {
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let gateway = Gateway::with_config(&routed(&dead, "\"*\"", "")).await;
    let mut sio = SioClient::connect(&gateway).await;
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    let mut bystander = RawClient::connect(&gateway.ws_url("/ws")).await;
    bystander.join("r").await;

    let ack = sio.emit_with_ack("save", json!([1])).await;
    assert_eq!(ack[0]["error"]["code"], "backend_unavailable", "{ack:?}");
    let (ack, _) = raw
        .request(json!({"op": "emit", "event": "save", "data": 1}))
        .await;
    assert_eq!(ack["error"]["code"], "backend_unavailable", "{ack}");

    raw.publish("r", "still", json!("working")).await;
    assert_eq!(bystander.recv_event().await["data"], "working");
}

#[tokio::test]
async fn a_slow_backend_gets_timeout_and_the_gateway_keeps_serving_meanwhile() {
    let backend = Backend::start(|_path, _body| async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        (200, json!({"ack": ["too late"]}))
    })
    .await;
    let gateway = Gateway::with_config(&routed(
        &backend.url,
        "\"slow\"",
        "[webhooks]\ntimeout = \"1s\"\n",
    ))
    .await;
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    raw.join("r").await;
    let mut other = RawClient::connect(&gateway.ws_url("/ws")).await;

    raw.send(json!({"op": "emit", "event": "slow", "data": null, "id": "slow-1"}))
        .await;
    backend.wait_for("/events").await;
    // While the backend sits on the call, the same client and others go on.
    other.publish("r", "meanwhile", json!(1)).await;
    assert_eq!(raw.recv().await["event"], "meanwhile");
    raw.send(json!({"op": "ping"})).await;
    assert_eq!(raw.recv().await, json!({"op": "pong"}));

    let ack = raw.recv().await;
    assert_eq!(ack["id"], "slow-1");
    assert_eq!(ack["error"]["code"], "timeout", "{ack}");
}

#[tokio::test]
async fn the_connect_webhook_allows_denies_and_welcomes_first() {
    let backend = Backend::start(|_path, body: Value| async move {
        let query = body["query"].as_str().unwrap_or_default().to_owned();
        let user = body["auth"]["user"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| query.strip_prefix("user=").map(str::to_owned));
        match user.as_deref() {
            Some("mallory") | None => (200, json!({"allow": false, "reason": "banned"})),
            Some(user) => (
                200,
                json!({
                    "allow": true, "user": user, "rooms": ["act42"], "meta": {"plan": "pro"},
                    "emit": [{"event": "welcome", "data": {"hello": user}}]
                }),
            ),
        }
    })
    .await;
    let config = format!(
        "[auth]\nrequired = true\nwebhook_url = \"{0}/connect\"\n[[webhooks.routes]]\nevents = [\"whoami\"]\nurl = \"{0}/events\"\n",
        backend.url
    );
    let gateway = Gateway::with_config(&config).await;

    let mut raw = RawClient::connect(&gateway.ws_url("/ws?user=bob")).await;
    assert_eq!(raw.open["user"], "bob");
    assert_eq!(
        raw.recv().await,
        json!({"op": "event", "event": "welcome", "data": {"hello": "bob"}}),
        "the welcome comes right after open"
    );
    let mut sio = SioClient::spawn(
        &gateway,
        SioOptions {
            auth: Some(json!({"user": "alice"})),
            ..SioOptions::default()
        },
    )
    .await;
    sio.expect_type("connect").await;
    assert_eq!(sio.expect_event("welcome").await, [json!({"hello": "alice"})]);

    // Rooms from the answer are joined; meta reaches event webhooks.
    let mut publisher = RawClient::connect(&gateway.ws_url("/ws?user=carol")).await;
    publisher.recv().await;
    publisher.publish("act42", "hi", json!(1)).await;
    assert_eq!(raw.recv_event().await["event"], "hi");
    assert_eq!(sio.expect_event("hi").await, [json!(1)]);
    let connect = backend.wait_for("/connect").await.body;
    assert_eq!(connect["type"], "connect");
    assert!(connect["peer"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(connect["headers"]["host"].is_string(), "{connect}");

    // Denied: a clear reason on both protocols.
    let (mut ws, _) = tokio_tungstenite::connect_async(gateway.ws_url("/ws?user=mallory"))
        .await
        .unwrap();
    let (code, reason) = close_frame_of(&mut ws).await;
    assert_eq!(
        (code, reason.as_str()),
        (CloseCode::from(4001), "connection denied: banned")
    );
    let mut denied = SioClient::spawn(&gateway, SioOptions::default()).await;
    assert_eq!(
        denied.expect_type("connect_error").await["message"],
        "connection denied: banned"
    );
}

#[tokio::test]
async fn disconnects_are_reported_and_the_secret_is_sent() {
    let backend = Backend::start(|_path, _body| async move { (200, json!({})) }).await;
    let config = format!(
        "[webhooks]\nsecret = \"hook-secret-123\"\ndisconnect_url = \"{}/disconnect\"\n",
        backend.url
    );
    let gateway = Gateway::with_config(&config).await;
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    raw.join("r").await;
    let sid = raw.sid.clone();
    raw.close().await;

    let report = backend.wait_for("/disconnect").await;
    assert_eq!(report.authorization.as_deref(), Some("Bearer hook-secret-123"));
    assert_eq!(report.body["type"], "disconnect");
    assert_eq!(report.body["sid"], sid);
    assert_eq!(report.body["protocol"], "raw");
    assert_eq!(report.body["rooms"], json!(["r"]));
    assert_eq!(report.body["reason"], "client closed");

    let mut sio = SioClient::connect(&gateway).await;
    sio.disconnect().await;
    tokio::time::timeout(crate::util::WAIT, async {
        while !backend
            .received()
            .iter()
            .any(|r| r.body["protocol"] == "socket.io")
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the socket.io disconnect was reported");
}

/// Regression (outside probe): the webhook client followed redirects, so a
/// backend answering 307 had the event re-posted to any address it named.
#[tokio::test]
async fn webhooks_never_follow_redirects() {
    let elsewhere = Backend::start(|_path, _body| async { (200, json!({"ack": ["followed"]})) }).await;
    let target = format!("{}/stolen", elsewhere.url);
    let redirecting = Backend::start(move |_path, _body| {
        let target = target.clone();
        async move { (307, json!({"location": target})) }
    })
    .await;
    let gateway = Gateway::with_config(&routed(&redirecting.url, "\"*\"", "")).await;
    let mut sio = SioClient::connect(&gateway).await;
    let ack = sio.emit_with_ack("save", json!([{"secret": 1}])).await;
    assert_eq!(ack[0]["error"]["code"], "backend_unavailable", "{ack:?}");
    let message = ack[0]["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("307") && message.contains("redirect"),
        "{message}"
    );
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    let (ack, _) = raw
        .request(json!({"op": "emit", "event": "save", "data": {"secret": 2}}))
        .await;
    assert_eq!(ack["error"]["code"], "backend_unavailable", "{ack}");
    assert_eq!(redirecting.received().len(), 2);
    assert!(elsewhere.received().is_empty(), "{:?}", elsewhere.received());
}
