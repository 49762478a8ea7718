//! What the socket.io side answers to broken clients: the engine.io error
//! codes of the protocol, a closed session for a malformed packet, and
//! nothing lost for anyone else.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::operations::sample;
use crate::subprotocol::reqwest_like::raw_http;
use crate::util::{Gateway, RawClient, SioClient, WAIT};

/// One HTTP request on a fresh connection: its status and body.
async fn request(gateway: &Gateway, method: &str, path: &str, body: &str) -> (u16, String) {
    let text = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        gateway.addr,
        body.len()
    );
    let answer = raw_http(gateway, &text).await;
    let status = answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn engine_error(code: u8, message: &str) -> (u16, String) {
    (400, json!({"code": code, "message": message}).to_string())
}

/// An open polling session with the default namespace connected.
async fn polling_session(gateway: &Gateway) -> String {
    let (status, open) = request(gateway, "GET", "/socket.io/?EIO=4&transport=polling", "").await;
    assert_eq!(status, 200, "{open}");
    let handshake: Value = serde_json::from_str(open.trim_start_matches('0')).expect("open packet");
    let sid = handshake["sid"].as_str().expect("sid").to_owned();
    let (status, _) = request(gateway, "POST", &polling(&sid), "40").await;
    assert_eq!(status, 200);
    next_packet(gateway, &sid, |p| p.starts_with("40{")).await;
    sid
}

/// Polls until a packet matching `wanted` arrives (engine.io pings may
/// come first) and returns it.
async fn next_packet(gateway: &Gateway, sid: &str, wanted: impl Fn(&str) -> bool) -> String {
    let mut seen = Vec::new();
    for _ in 0..5 {
        let (status, payload) = request(gateway, "GET", &polling(sid), "").await;
        assert_eq!(status, 200, "{payload}");
        if let Some(packet) = packets(&payload).into_iter().find(|p| wanted(p)) {
            return packet.to_owned();
        }
        seen.push(payload);
    }
    panic!("no such packet in {seen:?}");
}

/// The packets of a polling payload, engine.io pings left out.
fn packets(payload: &str) -> Vec<&str> {
    payload.split('\x1e').filter(|packet| *packet != "2").collect()
}

fn polling(sid: &str) -> String {
    format!("/socket.io/?EIO=4&transport=polling&sid={sid}")
}

#[tokio::test]
async fn bad_handshakes_get_the_engine_io_error_codes() {
    let gateway = Gateway::with_config("[socketio]\nallow_eio3 = false\n").await;
    let cases = [
        (
            "GET",
            "/socket.io/?EIO=4&transport=polling&sid=nope",
            engine_error(1, "Session ID unknown"),
        ),
        (
            "GET",
            "/socket.io/?EIO=5&transport=polling",
            engine_error(5, "Unsupported protocol version"),
        ),
        (
            "GET",
            "/socket.io/?EIO=3&transport=polling",
            engine_error(5, "Unsupported protocol version"),
        ),
        (
            "GET",
            "/socket.io/?transport=polling",
            engine_error(5, "Unsupported protocol version"),
        ),
        (
            "GET",
            "/socket.io/?EIO=4&transport=carrier-pigeon",
            engine_error(0, "Transport unknown"),
        ),
        (
            "POST",
            "/socket.io/?EIO=4&transport=polling",
            engine_error(2, "Bad handshake method"),
        ),
    ];
    for (method, path, expected) in cases {
        assert_eq!(
            request(&gateway, method, path, "").await,
            expected,
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn malformed_packets_close_only_their_own_session() {
    let gateway = Gateway::start().await;
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    raw.join("room").await;
    let mut sio = SioClient::connect(&gateway).await;
    sio.join("room").await;

    // (what is wrong, the POST body)
    let broken = [
        ("not an engine.io packet", "zzz"),
        (
            "a socket.io event that is not JSON",
            "42[\"chat\",{\"unterminated",
        ),
        ("a socket.io packet of unknown type", "49[]"),
        ("an event name that is not a string", "42[42,\"data\"]"),
    ];
    for (what, body) in broken {
        let sid = polling_session(&gateway).await;
        let (status, answer) = request(&gateway, "POST", &polling(&sid), body).await;
        assert!(
            (status, answer.as_str()) == (200, "ok")
                || (status, answer.clone()) == engine_error(3, "Bad request"),
            "{what}: {status} {answer}"
        );
        // The session is closed, as Node socket.io closes it ("parse error").
        assert_eq!(
            request(&gateway, "GET", &polling(&sid), "").await,
            engine_error(1, "Session ID unknown"),
            "{what}"
        );
        raw.publish("room", "still-here", json!(what)).await;
        assert_eq!(sio.expect_event("still-here").await, [json!(what)], "{what}");
    }
}

#[tokio::test]
async fn a_stale_sid_is_unknown_and_an_unknown_namespace_is_refused_in_protocol() {
    let gateway = Gateway::start().await;
    let (_, open) = request(&gateway, "GET", "/socket.io/?EIO=4&transport=polling", "").await;
    let sid = serde_json::from_str::<Value>(open.trim_start_matches('0')).unwrap()["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = request(&gateway, "POST", &polling(&sid), "40/nope,").await;
    assert_eq!(status, 200);
    let refused = next_packet(&gateway, &sid, |p| p.starts_with("44")).await;
    assert_eq!(refused, r#"44/nope,{"message":"Invalid namespace"}"#);

    // The engine.io session itself goes on: the default namespace works.
    request(&gateway, "POST", &polling(&sid), "40").await;
    next_packet(&gateway, &sid, |p| p.starts_with("40{")).await;

    // Closed by the client (engine.io close packet): the sid is stale.
    request(&gateway, "POST", &polling(&sid), "1").await;
    assert_eq!(
        request(&gateway, "GET", &polling(&sid), "").await,
        engine_error(1, "Session ID unknown")
    );
}

#[tokio::test]
async fn oversized_packets_are_refused_on_both_transports_and_nothing_leaks() {
    let gateway = Gateway::with_config("[socketio]\nmax_payload = 1000\n").await;
    let sid = polling_session(&gateway).await;
    let big = format!("42[\"chat\",\"{}\"]", "x".repeat(2000));
    let (status, _) = request(&gateway, "POST", &polling(&sid), &big).await;
    assert_eq!(status, 413);
    assert_eq!(
        request(&gateway, "GET", &polling(&sid), "").await,
        engine_error(1, "Session ID unknown")
    );

    // Over websocket: the connection is closed with 1009.
    let url = gateway.ws_url("/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let _open = ws.next().await;
    ws.send(Message::Text("40".into())).await.unwrap();
    let _connected = ws.next().await;
    let _ = ws.send(Message::Text(big.into())).await;
    let ending = tokio::time::timeout(WAIT, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await
    .expect("the oversized websocket was not closed");
    if let Some(code) = ending {
        assert_eq!(code, 1009);
    }

    // Neither session is left behind.
    let mut left = f64::MAX;
    for _ in 0..50 {
        let scrape = gateway.http_get("/metrics").await;
        left = sample(
            &scrape,
            "sockgate_connections{protocol=\"socket.io\",transport=\"websocket\"}",
        ) + sample(
            &scrape,
            "sockgate_connections{protocol=\"socket.io\",transport=\"polling\"}",
        );
        if left == 0.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0.0, "socket.io connections left open");
}

/// Regression (outside probe): an event name with a newline was accepted
/// for publishing; now it is refused with a clear error on both protocols
/// and through the API, and the sender stays connected.
#[tokio::test]
async fn an_event_name_with_a_control_character_is_answered_with_an_error() {
    let gateway = Gateway::with_config(&crate::util::api::api_config()).await;
    let mut member = RawClient::connect(&gateway.ws_url("/ws")).await;
    member.join("r").await;
    let expected = "event name must be 1..=128 bytes without control characters";

    let mut sio = SioClient::connect(&gateway).await;
    let ack = sio
        .emit_with_ack("publish", json!([{"room": "r", "event": "a\nb", "data": 1}]))
        .await;
    assert_eq!(ack[0]["error"]["code"], "bad_request", "{ack:?}");
    assert_eq!(ack[0]["error"]["message"], expected);
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    let (ack, _) = raw
        .request(json!({"op": "publish", "room": "r", "event": "a\u{7}b", "data": 1}))
        .await;
    assert_eq!(ack["error"]["code"], "bad_request", "{ack}");
    assert_eq!(ack["error"]["message"], expected);
    let response = gateway
        .api_post("/api/emit", &json!({"room": "r", "event": "a\nb", "data": 1}))
        .await;
    assert_eq!(response.status, 400, "{response:?}");

    // Both senders are still connected, and nothing reached the member.
    sio.publish("r", "fine", json!(1)).await;
    raw.publish("r", "fine", json!(2)).await;
    assert_eq!(member.recv_event().await["data"], 1);
    assert_eq!(member.recv_event().await["data"], 2);
}

/// Regression (outside probe, "still open" until sockgate's own engine): an
/// event whose name needs JSON escaping closed the socket with `parse
/// error`; it is now an event like any other, answered in its ack.
#[tokio::test]
async fn an_event_name_that_needs_json_escaping_is_answered_not_disconnected() {
    let gateway = Gateway::with_config(&crate::util::api::api_config()).await;
    let mut member = RawClient::connect(&gateway.ws_url("/ws")).await;
    member.join("r").await;
    let mut sio = SioClient::connect(&gateway).await;
    for name in ["say \"hi\"", "back\\slash", "tab\there"] {
        let ack = sio.emit_with_ack(name, json!([1])).await;
        assert_eq!(ack[0]["error"]["code"], "no_handler", "{name}: {ack:?}");
        let message = format!("no handler for event {name:?}");
        assert_eq!(ack[0]["error"]["message"], message.as_str());
    }
    // Still connected: its next publish arrives.
    sio.publish("r", "fine", json!(3)).await;
    assert_eq!(member.recv_event().await["data"], 3);
}
