//! A room flooded with events while one member reads everything and
//! another never reads until the end: the scenario of every slow-consumer
//! test.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use super::{Gateway, RawClient};

/// The publisher stays at most this many events ahead of the reading
/// client, so "reads everything" means "keeps up", whatever the speed of
/// the test build.
const WINDOW: usize = 32;

/// What the client that did not read saw once it read.
pub struct FloodEnd {
    /// Events it got before the end (or before `read_for` ran out).
    pub received: usize,
    /// The gateway's close frame, if one came.
    pub close: Option<CloseFrame>,
    /// Whether its connection ended within `read_for`.
    pub ended: bool,
}

/// Publishes `events` distinct events with `padding` bytes each to room
/// "flood"; asserts the reading client got every one in order, then reads
/// the other one for at most `read_for`.
pub async fn flood(gateway: &Gateway, events: usize, padding: usize, read_for: Duration) -> FloodEnd {
    // The client that does not read: a tiny receive buffer, and no reads.
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
    let pad = "p".repeat(padding);
    for n in 0..events {
        while n >= fast_received.load(Ordering::Acquire) + WINDOW {
            assert!(!fast_reader.is_finished(), "the reading client stopped");
            tokio::task::yield_now().await;
        }
        let event = json!({"op": "publish", "room": "flood", "event": "tick", "data": {"n": n, "pad": pad}});
        publisher.send(event).await;
    }
    tokio::time::timeout(Duration::from_secs(60), fast_reader)
        .await
        .expect("the reading client was slowed down")
        .expect("reading client");

    let mut end = FloodEnd {
        received: 0,
        close: None,
        ended: false,
    };
    let _ = tokio::time::timeout(read_for, async {
        loop {
            match slow.next().await {
                Some(Ok(Message::Text(_))) => end.received += 1,
                Some(Ok(Message::Close(frame))) => {
                    end.close = frame;
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            }
        }
        end.ended = true;
    })
    .await;
    end
}
