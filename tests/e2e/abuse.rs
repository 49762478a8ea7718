//! Misbehaving clients, all at once, through the real listener, while
//! well-behaved clients of both protocols share a room: the well-behaved
//! ones get every event in order, the misbehaving ones get the documented
//! answer, and the gateway's memory stays bounded.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinSet;

use crate::util::frames::{tcp_from, FrameClient, CLOSE, TEXT};
use crate::util::{Gateway, RawClient, SioClient, SioOptions};

/// Events the well-behaved publisher sends while the others misbehave.
const EVENTS: usize = 400;

/// The close code a misbehaving raw client ends up with (0: none, TCP only).
async fn close_code_of(client: &mut FrameClient) -> u16 {
    let mut code = 0;
    while let Some(frame) = client.recv().await {
        if frame.opcode == CLOSE {
            code = frame.close_code().unwrap_or(1005);
        }
    }
    code
}

/// A slowloris client: starts a request and sends one header byte a second,
/// never finishing; returns how the gateway answered once it hung up.
async fn slowloris(addr: SocketAddr) -> String {
    let mut stream = tcp_from("127.0.0.5", addr).await;
    stream
        .write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    loop {
        tokio::select! {
            read = stream.read(&mut buffer) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            },
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                if stream.write_all(b"a").await.is_err() {
                    break;
                }
            }
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn well_behaved_clients_lose_nothing_while_others_misbehave() {
    let gateway = Gateway::with_config(
        "[server]\nheader_read_timeout = \"2s\"\n\
         [limits]\nmax_message_bytes = 4096\nmessages_per_second = 50\nmessage_burst = 50\n\
         connects_per_second_per_ip = 20\nconnect_burst_per_ip = 20\n",
    )
    .await;
    let rss_before = gateway.rss_kib();

    // The well-behaved: two raw clients and socket.io over websocket and polling.
    let mut raw_a = RawClient::connect(&gateway.ws_url("/ws")).await;
    let mut raw_b = RawClient::connect(&gateway.ws_url("/ws")).await;
    let mut sio_ws = SioClient::connect(&gateway).await;
    let polling = SioOptions {
        transports: "polling",
        ..SioOptions::default()
    };
    let mut sio_polling = SioClient::connect_with(&gateway, polling).await;
    raw_a.join("calm").await;
    raw_b.join("calm").await;
    sio_ws.join("calm").await;
    sio_polling.join("calm").await;
    // One that joins and never reads again.
    let mut stalled = FrameClient::connect(&gateway, "/ws").await;
    stalled.recv().await;
    stalled
        .send(true, TEXT, br#"{"op":"join","room":"calm","id":1}"#)
        .await;

    let mut misbehaving = JoinSet::new();
    // Slowloris: 20 connections that never finish their request.
    let addr = gateway.addr;
    for _ in 0..20 {
        misbehaving.spawn(async move {
            let answer = slowloris(addr).await;
            // hyper answers 408 or just hangs up, within header_read_timeout.
            assert!(
                answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
                "slowloris got {answer}"
            );
            "slowloris cut off"
        });
    }
    // A frame flood: far over messages_per_second, into another room.
    let url = gateway.ws_url("/ws");
    misbehaving.spawn(async move {
        let mut flood = RawClient::connect_on(tcp_from("127.0.0.2", addr).await, &url).await;
        for n in 0..10_000 {
            let frame = json!({"op": "publish", "room": "noise", "event": "x", "data": n});
            if !flood.try_send_text(&frame.to_string()).await {
                break;
            }
        }
        let close = flood.expect_close().await.expect("a close frame");
        assert_eq!(u16::from(close.code), 1008);
        assert_eq!(close.reason.as_str(), "rate limit exceeded");
        "flood closed with 1008"
    });
    // Oversized, invalid UTF-8, and random bytes.
    misbehaving.spawn(async move {
        let mut big = FrameClient::connect_from(addr, "/ws", "127.0.0.3").await;
        big.send(true, TEXT, &vec![b'x'; 100_000]).await;
        assert_eq!(close_code_of(&mut big).await, 1009);
        let mut bad = FrameClient::connect_from(addr, "/ws", "127.0.0.3").await;
        bad.send(true, TEXT, b"\xff\xfe\xfd").await;
        assert_eq!(close_code_of(&mut bad).await, 1007);
        let mut noise = FrameClient::connect_from(addr, "/ws", "127.0.0.3").await;
        noise.send_bytes(&[0x8f; 64]).await;
        assert_eq!(close_code_of(&mut noise).await, 1002);
        "oversized 1009, bad utf-8 1007, noise 1002"
    });
    // A connection flood from one address: past the burst, 429s.
    misbehaving.spawn(async move {
        let mut accepted = Vec::new();
        let mut refused = 0;
        let start = std::time::Instant::now();
        for _ in 0..100 {
            let mut stream = tcp_from("127.0.0.4", addr).await;
            let request = format!(
                "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            );
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut head = [0u8; 12];
            stream.read_exact(&mut head).await.unwrap();
            match &head[9..12] {
                b"101" => accepted.push(stream),
                b"429" => refused += 1,
                other => panic!("unexpected status {}", String::from_utf8_lossy(other)),
            }
        }
        // A token bucket lets in its burst plus its rate times the time taken.
        let allowed = 20 + (20.0 * start.elapsed().as_secs_f64()).ceil() as usize;
        assert!(
            accepted.len() <= allowed,
            "{} accepted, {allowed} allowed",
            accepted.len()
        );
        assert!(
            accepted.len() >= 20,
            "the burst was not let in: {}",
            accepted.len()
        );
        assert_eq!(accepted.len() + refused, 100);
        "connection flood refused"
    });

    // Meanwhile the publisher goes on, and every well-behaved client gets
    // every event in order.
    let mut publisher = RawClient::connect(&gateway.ws_url("/ws")).await;
    let pad = "p".repeat(1500);
    let publishing = async {
        for n in 0..EVENTS {
            publisher
                .publish("calm", "tick", json!({"n": n, "pad": pad}))
                .await;
            if n % 40 == 39 {
                // Stay within messages_per_second (50/s) like a real client.
                tokio::time::sleep(Duration::from_millis(800)).await;
            }
        }
    };
    let raw_readers = async {
        for n in 0..EVENTS {
            assert_eq!(raw_a.recv_event().await["data"]["n"], n);
            assert_eq!(raw_b.recv_event().await["data"]["n"], n);
        }
    };
    let sio_readers = async {
        for n in 0..EVENTS {
            assert_eq!(sio_ws.expect_event("tick").await[0]["n"], n);
            assert_eq!(sio_polling.expect_event("tick").await[0]["n"], n);
        }
    };
    tokio::join!(publishing, raw_readers, sio_readers);

    let mut outcomes = Vec::new();
    while let Some(outcome) = misbehaving.join_next().await {
        outcomes.push(outcome.expect("a misbehaving client's expectation failed"));
    }
    assert_eq!(outcomes.len(), 23, "{outcomes:?}");

    // Memory: whatever the misbehaving clients did is gone again.
    let rss_after = gateway.rss_kib();
    eprintln!("gateway RSS: {rss_before} KiB before, {rss_after} KiB after");
    assert!(
        rss_after < rss_before + 64 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
    drop(stalled);
}
