//! What sockgate's own socket.io server does that socketioxide's could
//! not: a slow socket.io consumer is closed alone, never silently skipped
//! while it stays connected, and counted.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;

use crate::util::{Gateway, RawClient, SioClient};

const EVENTS: usize = 3_000;

/// A socket.io client over a bare engine.io websocket with a tiny receive
/// buffer, in room `flood`, that reads nothing once it has joined.
async fn stalled_member(gateway: &Gateway) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(gateway.addr).await.unwrap();
    let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", gateway.addr);
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    assert!(
        next_text(&mut ws).await.starts_with("0{"),
        "the open packet first"
    );
    ws.send(Message::Text("40".into())).await.unwrap();
    assert!(next_text(&mut ws).await.starts_with("40{\"sid\""));
    ws.send(Message::Text(r#"421["join","flood"]"#.into()))
        .await
        .unwrap();
    loop {
        let text = next_text(&mut ws).await;
        if text.starts_with("431") {
            assert_eq!(text, r#"431[{"ok":true}]"#);
            return ws;
        }
    }
}

/// The next frame, which must be text.
async fn next_text(ws: &mut tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>) -> String {
    match tokio::time::timeout(crate::util::WAIT, ws.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => text.to_string(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

#[tokio::test]
async fn a_socket_io_client_that_stops_reading_is_closed_alone_and_counted() {
    let gateway = Gateway::with_config(
        "[limits]\noutbound_queue = 64\nmessages_per_second = 1000000\nmessage_burst = 1000000\n\
         [socketio]\n",
    )
    .await;
    let mut slow = stalled_member(&gateway).await;
    let mut fast = SioClient::connect(&gateway).await;
    fast.join("flood").await;
    let mut publisher = RawClient::connect(&gateway.ws_url("/ws")).await;
    let pad = "p".repeat(2000);
    // The reading client gets every event, in order, while the other one's
    // queue fills; the publisher never runs far ahead of it.
    for n in 0..EVENTS {
        publisher
            .send(json!({"op": "publish", "room": "flood", "event": "tick", "data": {"n": n, "pad": pad}}))
            .await;
        if n % 16 == 15 || n + 1 == EVENTS {
            for m in (n + 1 - (n % 16 + 1))..=n {
                assert_eq!(fast.expect_event("tick").await[0]["n"], m);
            }
        }
    }

    // The stalled one was closed, not kept on with holes in its stream.
    let mut received = 0;
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match slow.next().await {
                Some(Ok(Message::Text(_))) => received += 1,
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the slow consumer was never closed");
    assert!(received < EVENTS, "it cannot have received everything");
    assert_eq!(slow_consumers(&gateway, "socketio", 1).await, 1);
    assert_eq!(slow_consumers(&gateway, "raw", 0).await, 0);
}

/// `sockgate_slow_consumer_disconnects_total{protocol}`, once it reads
/// `expected` (the count is taken as the session ends, just after its
/// client saw the close), or whatever it reads after a while.
pub(crate) async fn slow_consumers(gateway: &Gateway, protocol: &str, expected: u64) -> u64 {
    let wanted = format!("sockgate_slow_consumer_disconnects_total{{protocol=\"{protocol}\"}} ");
    let mut count = u64::MAX;
    for _ in 0..50 {
        let metrics = gateway.http_get("/metrics").await;
        count = metrics
            .lines()
            .find_map(|line| line.strip_prefix(&wanted))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(u64::MAX);
        if count == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    count
}
