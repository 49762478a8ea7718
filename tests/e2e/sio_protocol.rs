//! The rules of socket.io protocol v5 that the official socket.io-protocol
//! suite checks (`test-suite/`, run by hand: `docs/security.md`), written
//! here as raw engine.io frames over one websocket, through the gateway and
//! a backend that answers like the suite's reference server: every
//! connection is welcomed with an `auth` event carrying its handshake
//! payload, `message` is emitted back as `message-back` with every
//! argument, and `message-with-ack` is acked with its arguments.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use crate::util::backend::Backend;
use crate::util::{Gateway, WAIT};

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// The suite's reference server, as webhooks.
async fn reference_backend() -> Backend {
    Backend::start(|path, body: Value| async move {
        let answer = match (path.as_str(), body["event"].as_str()) {
            ("/connect", _) => {
                let auth = match &body["auth"] {
                    Value::Null => json!({}),
                    auth => auth.clone(),
                };
                json!({"allow": true, "emit": [{"event": "auth", "data": auth}]})
            }
            (_, Some("message")) => {
                json!({"emit": [{"sender": true, "event": "message-back", "args": body["args"]}]})
            }
            (_, Some("message-with-ack")) => json!({"ack": body["args"]}),
            _ => json!({}),
        };
        (200, answer)
    })
    .await
}

/// A gateway serving `/` and `/custom` with the suite's timings, its
/// webhooks on `backend`.
async fn suite_gateway(backend: &Backend) -> Gateway {
    Gateway::with_config(&format!(
        r#"
[socketio]
namespaces = ["/", "/custom"]
ping_interval = "300ms"
ping_timeout = "200ms"
connect_timeout = "1s"
max_payload = 1000000
[auth]
webhook_url = "{url}/connect"
[[webhooks.routes]]
events = ["*"]
url = "{url}/events"
"#,
        url = backend.url
    ))
    .await
}

/// A websocket session past its engine.io open packet.
async fn open(gateway: &Gateway) -> Ws {
    let url = gateway.ws_url("/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
        .await
        .expect("websocket connect timed out")
        .expect("websocket connect failed");
    assert!(next_text(&mut ws).await.starts_with('0'));
    ws
}

/// A session connected to `/`, its welcome event read.
async fn connected(gateway: &Gateway) -> Ws {
    let mut ws = open(gateway).await;
    send(&mut ws, "40").await;
    assert!(next_text(&mut ws).await.starts_with("40{"));
    assert_eq!(next_text(&mut ws).await, r#"42["auth",{}]"#);
    ws
}

async fn send(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text)).await.expect("send");
}

/// The next text or binary message; pings are answered and skipped;
/// `None` once the connection is closed.
async fn next(ws: &mut Ws) -> Option<Message> {
    tokio::time::timeout(WAIT, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) if text.as_str() == "2" => send(ws, "3").await,
                Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => return Some(message),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await
    .expect("nothing from the websocket in time")
}

async fn next_text(ws: &mut Ws) -> String {
    match next(ws).await {
        Some(Message::Text(text)) => text.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

async fn next_binary(ws: &mut Ws) -> Vec<u8> {
    match next(ws).await {
        Some(Message::Binary(data)) => data.to_vec(),
        other => panic!("expected a binary message, got {other:?}"),
    }
}

#[tokio::test]
async fn connect_answers_only_a_sid_then_the_welcome_event_on_any_namespace() {
    let backend = reference_backend().await;
    let gateway = suite_gateway(&backend).await;
    // (CONNECT sent, namespace prefix of the answers, auth the backend saw)
    let cases = [
        ("40", "", json!({})),
        (r#"40{"token":"123"}"#, "", json!({"token": "123"})),
        ("40/custom,", "/custom,", json!({})),
        (
            r#"40/custom,{"token":"abc"}"#,
            "/custom,",
            json!({"token": "abc"}),
        ),
    ];
    for (connect, prefix, auth) in cases {
        let mut ws = open(&gateway).await;
        send(&mut ws, connect).await;
        let answer = next_text(&mut ws).await;
        let handshake = answer
            .strip_prefix(&format!("40{prefix}"))
            .unwrap_or_else(|| panic!("{connect}: {answer}"));
        let handshake: Value = serde_json::from_str(handshake).expect("CONNECT data");
        let keys: Vec<&String> = handshake.as_object().expect("an object").keys().collect();
        assert_eq!(keys, ["sid"], "{connect}: {answer}");
        assert!(handshake["sid"].is_string(), "{connect}: {answer}");
        // Read on its own: the welcome event comes in a write of its own.
        assert_eq!(
            next_text(&mut ws).await,
            format!(r#"42{prefix}["auth",{auth}]"#),
            "{connect}"
        );
    }
}

#[tokio::test]
async fn an_unknown_namespace_is_refused_and_broken_packets_close_the_session() {
    let backend = reference_backend().await;
    let gateway = suite_gateway(&backend).await;
    let mut ws = open(&gateway).await;
    send(&mut ws, "40/random").await;
    assert_eq!(
        next_text(&mut ws).await,
        r#"44/random,{"message":"Invalid namespace"}"#
    );

    // Before any namespace, then after: an unknown packet type, an event
    // that is not an array, an ack id that is not a number.
    let mut ws = open(&gateway).await;
    send(&mut ws, "4abc").await;
    assert_eq!(next(&mut ws).await, None, "4abc before CONNECT");
    for broken in ["4abc", "42{}", r#"42abc["message-with-ack",1,"2",{"3":[false]}]"#] {
        let mut ws = connected(&gateway).await;
        send(&mut ws, broken).await;
        assert_eq!(next(&mut ws).await, None, "{broken}");
    }
}

#[tokio::test]
async fn a_session_that_connects_no_namespace_is_closed_after_connect_timeout() {
    let backend = reference_backend().await;
    let gateway = suite_gateway(&backend).await;
    let mut ws = open(&gateway).await;
    // Pings are answered meanwhile: only the missing CONNECT ends it (with
    // the close packet first, or straight away as Node does).
    let last = next(&mut ws).await;
    if let Some(packet) = last {
        assert_eq!(packet, Message::text("1"));
        assert_eq!(next(&mut ws).await, None);
    }
}

#[tokio::test]
async fn leaving_a_namespace_keeps_the_session_and_the_other_namespaces() {
    let backend = reference_backend().await;
    let gateway = suite_gateway(&backend).await;
    let mut ws = connected(&gateway).await;
    send(&mut ws, "41").await;
    // The engine.io session stays: its heartbeat goes on.
    let ping = tokio::time::timeout(WAIT, ws.next()).await.expect("a ping");
    assert_eq!(ping.unwrap().unwrap(), Message::text("2"));
    send(&mut ws, "3").await;

    let mut ws = connected(&gateway).await;
    send(&mut ws, "40/custom").await;
    assert!(next_text(&mut ws).await.starts_with("40/custom,{"));
    assert_eq!(next_text(&mut ws).await, r#"42/custom,["auth",{}]"#);
    send(&mut ws, "41/custom").await;
    send(&mut ws, r#"42["message","message to main namespace"]"#).await;
    assert_eq!(
        next_text(&mut ws).await,
        r#"42["message-back","message to main namespace"]"#
    );
}

#[tokio::test]
async fn events_and_acks_round_trip_every_argument_and_binary_attachments() {
    let backend = reference_backend().await;
    let gateway = suite_gateway(&backend).await;
    let mut ws = connected(&gateway).await;

    send(&mut ws, r#"42["message",1,"2",{"3":[true]}]"#).await;
    assert_eq!(
        next_text(&mut ws).await,
        r#"42["message-back",1,"2",{"3":[true]}]"#
    );

    send(&mut ws, r#"42456["message-with-ack",1,"2",{"3":[false]}]"#).await;
    assert_eq!(next_text(&mut ws).await, r#"43456[1,"2",{"3":[false]}]"#);

    let placeholders = r#"{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}"#;
    // (event packet sent, the packet that comes back)
    let cases = [
        (
            format!(r#"452-["message",{placeholders}]"#),
            format!(r#"452-["message-back",{placeholders}]"#),
        ),
        (
            format!(r#"452-789["message-with-ack",{placeholders}]"#),
            format!(r#"462-789[{placeholders}]"#),
        ),
    ];
    for (sent, back) in cases {
        send(&mut ws, &sent).await;
        ws.send(Message::binary(vec![1, 2, 3])).await.unwrap();
        ws.send(Message::binary(vec![4, 5, 6])).await.unwrap();
        assert_eq!(next_text(&mut ws).await, back);
        assert_eq!(next_binary(&mut ws).await, [1, 2, 3], "{sent}");
        assert_eq!(next_binary(&mut ws).await, [4, 5, 6], "{sent}");
    }
}
