//! Sessions run over in-memory duplex streams against a real `LocalBus`.

use std::time::Duration;

use sockgate_bus::{BusLimits, LocalBus};
use sockgate_core::{Identity, Protocol, RoomPolicy};
use tokio::io::DuplexStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

use futures_util::SinkExt;

use super::*;

type Client = WebSocketStream<DuplexStream>;

fn config() -> WsConfig {
    WsConfig {
        outbound_queue: 4,
        max_message_bytes: 1024,
        ping_interval: Duration::from_secs(3600),
        close_timeout: Duration::from_millis(200),
        messages_per_second: 1_000_000,
        message_burst: 1_000_000,
        ..WsConfig::default()
    }
}

/// Starts a session on an in-memory pipe and returns the client end.
async fn connect(bus: &Arc<LocalBus>, config: WsConfig) -> (Client, tokio::task::JoinHandle<CloseReason>) {
    let (client_io, server_io) = tokio::io::duplex(1 << 20);
    let server = WebSocketStream::from_raw_socket(server_io, Role::Server, Some(config.tungstenite())).await;
    let bus: Arc<dyn ClientBus> = bus.clone();
    let task = tokio::spawn(async move {
        run_session(
            server,
            Sid::random(),
            Identity::anonymous(),
            ConnMeta::new(Protocol::Raw, None),
            &SessionLinks {
                bus,
                events: None,
                shutdown: Default::default(),
                metrics: Default::default(),
                budget: Default::default(),
            },
            &config,
        )
        .await
    });
    let client = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
    (client, task)
}

async fn recv_text(client: &mut Client) -> String {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), client.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => return text.to_string(),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

async fn send(client: &mut Client, text: &str) {
    client.send(Message::Text(text.into())).await.unwrap();
}

fn new_bus() -> Arc<LocalBus> {
    Arc::new(LocalBus::new(
        RoomPolicy::new(&["*"], &["*"], 16).unwrap(),
        BusLimits::default(),
    ))
}

#[tokio::test]
async fn open_frame_comes_first_and_join_publish_reach_the_other_member() {
    let bus = new_bus();
    let (mut a, _) = connect(&bus, config()).await;
    let (mut b, _) = connect(&bus, config()).await;
    assert!(recv_text(&mut a).await.starts_with(r#"{"op":"open","sid":""#));
    recv_text(&mut b).await;

    send(&mut a, r#"{"op":"join","room":"act42","id":1}"#).await;
    assert_eq!(recv_text(&mut a).await, r#"{"op":"ack","id":1,"ok":true}"#);
    send(&mut b, r#"{"op":"join","room":"act42","id":"j"}"#).await;
    assert_eq!(recv_text(&mut b).await, r#"{"op":"ack","id":"j","ok":true}"#);
    send(
        &mut a,
        r#"{"op":"publish","room":"act42","event":"chat","data":{"m":"hi"},"id":2}"#,
    )
    .await;
    assert_eq!(recv_text(&mut a).await, r#"{"op":"ack","id":2,"ok":true}"#);
    assert_eq!(
        recv_text(&mut b).await,
        r#"{"op":"event","room":"act42","event":"chat","data":{"m":"hi"}}"#
    );
    send(&mut b, r#"{"op":"ping"}"#).await;
    assert_eq!(recv_text(&mut b).await, r#"{"op":"pong"}"#);
}

#[tokio::test]
async fn bad_frames_get_errors_and_the_connection_stays_open() {
    let bus = new_bus();
    let (mut a, _) = connect(&bus, config()).await;
    recv_text(&mut a).await;
    send(&mut a, "{nope").await;
    assert!(recv_text(&mut a)
        .await
        .starts_with(r#"{"op":"error","error":{"code":"bad_request","message":"invalid frame"#));
    a.send(Message::Binary(vec![1, 2, 3].into())).await.unwrap();
    assert!(recv_text(&mut a).await.contains(r#""code":"unsupported""#));
    send(
        &mut a,
        r#"{"op":"join","room":"this-name-is-way-too-long","id":9}"#,
    )
    .await;
    assert_eq!(
        recv_text(&mut a).await,
        r#"{"op":"ack","id":9,"ok":false,"error":{"code":"bad_request","message":"room name must be 1..=16 bytes, got 25"}}"#
    );
    send(&mut a, r#"{"op":"ping"}"#).await;
    assert_eq!(recv_text(&mut a).await, r#"{"op":"pong"}"#);
}

#[tokio::test]
async fn an_oversized_message_closes_with_1009() {
    let bus = new_bus();
    let (mut a, task) = connect(&bus, config()).await;
    recv_text(&mut a).await;
    let big = format!(
        r#"{{"op":"publish","room":"r","event":"e","data":"{}"}}"#,
        "x".repeat(2048)
    );
    send(&mut a, &big).await;
    let frame = loop {
        match a.next().await {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(frame.unwrap().code, CloseCode::Size);
    assert_eq!(task.await.unwrap(), CloseReason::MessageTooBig);
}

#[tokio::test]
async fn a_client_that_does_not_read_is_closed_as_a_slow_consumer_without_hurting_others() {
    let bus = new_bus();
    let (mut slow, slow_task) = connect(
        &bus,
        WsConfig {
            write_buffer_bytes: 0,
            ..config()
        },
    )
    .await;
    let (mut fast, _) = connect(&bus, config()).await;
    let (mut publisher, _) = connect(&bus, config()).await;
    for client in [&mut slow, &mut fast, &mut publisher] {
        recv_text(client).await;
    }
    send(&mut slow, r#"{"op":"join","room":"r","id":1}"#).await;
    send(&mut fast, r#"{"op":"join","room":"r","id":1}"#).await;
    recv_text(&mut fast).await;
    // Wait until the slow client's join is acked server-side (it reads nothing more).
    tokio::time::timeout(Duration::from_secs(5), async {
        while bus.member_count("r") < 2 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();

    // Enough payload to fill the in-memory pipe and the 4-slot queue.
    let data = "y".repeat(900);
    let mut received = 0;
    for n in 0..2000 {
        send(
            &mut publisher,
            &format!(r#"{{"op":"publish","room":"r","event":"e","data":"{data}{n}"}}"#),
        )
        .await;
        received += 1;
        assert!(recv_text(&mut fast).await.ends_with(&format!("{n}\"}}")));
        if slow_task.is_finished() {
            break;
        }
    }
    assert_eq!(slow_task.await.unwrap(), CloseReason::SlowConsumer);
    assert!(received > 4);
    assert_eq!(bus.member_count("r"), 1, "the slow consumer left the room");
    assert!(bus.metrics().snapshot().slow_consumers >= 1);
}

#[tokio::test(start_paused = true)]
async fn a_silent_client_is_closed_after_ping_timeout() {
    let bus = new_bus();
    let cfg = WsConfig {
        ping_interval: Duration::from_secs(10),
        ping_timeout: Duration::from_secs(5),
        ..config()
    };
    let (client, task) = connect(&bus, cfg).await;
    // The client never reads, so it never answers the ping.
    let reason = task.await.unwrap();
    assert_eq!(reason, CloseReason::PingTimeout);
    drop(client);
}

#[tokio::test]
async fn a_client_over_the_rate_gets_errors_then_is_closed_with_1008() {
    let bus = new_bus();
    let cfg = WsConfig {
        messages_per_second: 1,
        message_burst: 2,
        ..config()
    };
    let (mut a, task) = connect(&bus, cfg).await;
    recv_text(&mut a).await;
    for _ in 0..2 {
        send(&mut a, r#"{"op":"ping"}"#).await;
        assert_eq!(recv_text(&mut a).await, r#"{"op":"pong"}"#);
    }
    for _ in 0..2 {
        send(&mut a, r#"{"op":"ping"}"#).await;
        assert!(recv_text(&mut a).await.contains(r#""code":"rate_limited""#));
    }
    send(&mut a, r#"{"op":"ping"}"#).await;
    let frame = loop {
        match a.next().await {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(frame.unwrap().code, CloseCode::Policy);
    assert_eq!(task.await.unwrap(), CloseReason::RateLimited);
}
