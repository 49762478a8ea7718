//! The limits of `[limits]` that are not about one message: new
//! connections per second per address, binary attachments, and the memory
//! budget of raw outbound queues.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use crate::operations::sample;
use crate::subprotocol::reqwest_like::upgrade;
use crate::util::{Gateway, RawClient, SioClient, SioOptions};

#[tokio::test]
async fn new_connections_over_the_per_address_rate_get_429_on_both_protocols() {
    // A burst of 3 and a token every 100 s: nothing refills during the test.
    let gateway =
        Gateway::with_config("[limits]\nconnects_per_second_per_ip = 0.01\nconnect_burst_per_ip = 3\n").await;
    let _first = RawClient::connect(&gateway.ws_url("/ws")).await;
    let _second = RawClient::connect(&gateway.ws_url("/ws")).await;
    let _third = SioClient::connect(&gateway).await;

    let raw = upgrade(&gateway, "/ws", None).await.to_ascii_lowercase();
    assert!(raw.starts_with("http/1.1 429"), "{raw}");
    assert!(raw.contains("retry-after: "), "{raw}");
    assert!(raw.contains("limits.connects_per_second_per_ip"), "{raw}");
    let handshake = gateway.http_get("/socket.io/?EIO=4&transport=polling").await;
    assert!(handshake.starts_with("HTTP/1.1 429"), "{handshake}");
    let mut refused = SioClient::spawn(&gateway, SioOptions::default()).await;
    refused.expect_type("connect_error").await;

    // Requests of sessions already open are not new connections.
    let polling = gateway
        .http_get("/socket.io/?EIO=4&transport=polling&sid=unknown")
        .await;
    assert!(polling.starts_with("HTTP/1.1 400"), "{polling}");
}

#[tokio::test]
async fn a_refused_address_gets_in_again_once_a_token_has_come_back() {
    let gateway =
        Gateway::with_config("[limits]\nconnects_per_second_per_ip = 1\nconnect_burst_per_ip = 1\n").await;
    let mut refused = None;
    for _ in 0..5 {
        let answer = upgrade(&gateway, "/ws", None).await;
        if answer.starts_with("HTTP/1.1 429") {
            refused = Some(answer);
            break;
        }
    }
    let refused = refused.expect("five upgrades in a row all got in at one per second");
    assert!(
        refused.to_ascii_lowercase().contains("retry-after: 1"),
        "{refused}"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = upgrade(&gateway, "/ws", None).await;
    assert!(again.starts_with("HTTP/1.1 101"), "{again}");
}

#[tokio::test]
async fn binary_attachments_beyond_the_limit_are_refused_on_both_protocols() {
    let gateway = Gateway::with_config("[limits]\nmax_binary_attachments = 2\n").await;
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    raw.join("files").await;
    let mut receiver = SioClient::connect(&gateway).await;
    receiver.join("files").await;

    let three = json!([{"$binary": "AQ=="}, {"$binary": "Ag=="}, {"$binary": "Aw=="}]);
    let (ack, _) = raw
        .request(json!({"op": "publish", "room": "files", "event": "up", "data": three}))
        .await;
    assert_eq!(ack["ok"], false, "{ack}");
    assert_eq!(ack["error"]["code"], "limit_exceeded", "{ack}");
    assert_eq!(
        ack["error"]["message"],
        "more than 2 binary attachments (limits.max_binary_attachments)"
    );
    // Two is within the limit, and socket.io receivers get real binary.
    raw.publish("files", "up", json!([{"$binary": "AQ=="}, {"$binary": "Ag=="}]))
        .await;
    assert_eq!(
        receiver.expect_event("up").await,
        [json!([{"$bytes": "AQ=="}, {"$bytes": "Ag=="}])]
    );

    // A socket.io packet with three attachments ends that connection, as
    // Node socket.io does; the other clients go on.
    let mut sender = SioClient::connect(&gateway).await;
    let data = json!({"a": {"$bytes": "AQ=="}, "b": {"$bytes": "Ag=="}, "c": {"$bytes": "Aw=="}});
    sender
        .emit("publish", json!([{"room": "files", "event": "up", "data": data}]))
        .await;
    let disconnect = sender.expect_type("disconnect").await;
    assert_eq!(disconnect["reason"], "transport close", "{disconnect}");
    raw.publish("files", "after", json!(1)).await;
    assert_eq!(receiver.expect_event("after").await, [json!(1)]);
}

/// Outcome of [`flood`]: what the client that never read saw at the end.
struct Flood {
    slow_close: Option<u16>,
    slow_received: usize,
}

/// Publishes `events` distinct 8 KB events to a room with a client that
/// reads everything and one that never reads until the end; asserts the
/// first got every event in order.
async fn flood(gateway: &Gateway, events: usize) -> Flood {
    const WINDOW: usize = 32;
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(gateway.addr).await.unwrap();
    let (mut slow, _) = tokio_tungstenite::client_async(gateway.ws_url("/ws"), stream)
        .await
        .unwrap();
    let _open = slow.next().await;
    let join = json!({"op": "join", "room": "flood", "id": 1});
    slow.send(Message::Text(join.to_string().into())).await.unwrap();
    let _ack = slow.next().await;

    let mut fast = RawClient::connect(&gateway.ws_url("/ws")).await;
    fast.join("flood").await;
    let fast_received = Arc::new(AtomicUsize::new(0));
    let progress = fast_received.clone();
    let fast_reader = tokio::spawn(async move {
        for n in 0..events {
            let event = fast.recv_event().await;
            assert_eq!(
                event["data"]["n"], n,
                "the reading client gets every event in order"
            );
            progress.store(n + 1, Ordering::Release);
        }
    });
    let mut publisher = RawClient::connect(&gateway.ws_url("/ws")).await;
    let padding = "p".repeat(8000);
    for n in 0..events {
        while n >= fast_received.load(Ordering::Acquire) + WINDOW {
            assert!(!fast_reader.is_finished(), "the reading client stopped");
            tokio::task::yield_now().await;
        }
        let event =
            json!({"op": "publish", "room": "flood", "event": "tick", "data": {"n": n, "pad": padding}});
        publisher.send(event).await;
    }
    tokio::time::timeout(Duration::from_secs(60), fast_reader)
        .await
        .expect("the reading client was slowed down")
        .expect("reading client");

    let mut outcome = Flood {
        slow_close: None,
        slow_received: 0,
    };
    // Read the slow client now: what it was sent, then a close if any.
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(message)) = slow.next().await {
            match message {
                Message::Text(_) => outcome.slow_received += 1,
                Message::Close(frame) => {
                    outcome.slow_close = frame.map(|f| u16::from(f.code));
                    return;
                }
                _ => {}
            }
        }
    })
    .await;
    outcome
}

#[tokio::test]
async fn over_the_memory_budget_a_client_far_behind_is_closed_and_the_memory_comes_back() {
    // The queue (4096) never fills in this run, so only the budget
    // (256 KiB of queued events) can close the client that does not read.
    const EVENTS: usize = 3000;
    let limits = "[limits]\noutbound_queue = 4096\nmessages_per_second = 1000000\nmessage_burst = 1000000\n";
    let gateway = Gateway::with_config(&format!("{limits}max_queued_bytes = 262144\n")).await;
    let outcome = flood(&gateway, EVENTS).await;
    assert_eq!(outcome.slow_close, Some(u16::from(CloseCode::Policy)));
    assert!(outcome.slow_received < EVENTS, "{}", outcome.slow_received);
    let metrics = gateway.http_get("/metrics").await;
    assert!(
        sample(&metrics, "sockgate_raw_queued_bytes") < 65536.0,
        "{metrics}"
    );

    // The same run with a large budget: nobody is closed, and the client
    // that did not read gets every event once it does.
    let gateway = Gateway::with_config(&format!("{limits}max_queued_bytes = 1073741824\n")).await;
    let outcome = flood(&gateway, EVENTS).await;
    assert_eq!(outcome.slow_close, None);
    assert_eq!(outcome.slow_received, EVENTS);
}
