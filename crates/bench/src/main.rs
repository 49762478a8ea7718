#![allow(clippy::print_stdout)] // The result line on stdout is this tool's output.

//! `sockgate-bench`: measures fan-out through a gateway speaking raw
//! protocol v1. Subscribers may sit on other nodes than the publisher, so
//! the same run measures one node or a cluster. Every loop is bounded in
//! count and time; the last line printed is a JSON result.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// Fan-out benchmark: S subscribers in one room, one publisher, M messages.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Raw WebSocket URL(s) subscribers connect to, round-robin.
    #[arg(long = "sub-url", required = true)]
    sub_urls: Vec<String>,
    /// Raw WebSocket URL the publisher connects to.
    #[arg(long = "pub-url")]
    pub_url: String,
    /// Number of subscribers.
    #[arg(long, default_value_t = 100)]
    subscribers: usize,
    /// Number of messages to publish.
    #[arg(long, default_value_t = 2000)]
    messages: usize,
    /// Payload size in bytes (padding inside the JSON data).
    #[arg(long, default_value_t = 100)]
    payload: usize,
    /// Messages in flight: the publisher waits until message n-window has
    /// reached every subscriber before sending message n.
    #[arg(long, default_value_t = 64)]
    window: usize,
    /// Room name.
    #[arg(long, default_value = "bench")]
    room: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str) -> anyhow::Result<Socket> {
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .with_context(|| format!("connect {url}"))?;
    // The open frame.
    socket.next().await.context("no open frame")??;
    Ok(socket)
}

async fn join(socket: &mut Socket, room: &str) -> anyhow::Result<()> {
    let frame = json!({"op": "join", "room": room, "id": 1}).to_string();
    socket.send(Message::Text(frame.into())).await?;
    while let Some(message) = socket.next().await {
        if let Message::Text(text) = message? {
            let frame: Value = serde_json::from_str(&text)?;
            if frame["op"] == "ack" {
                if frame["ok"] != true {
                    bail!("join refused: {frame}");
                }
                return Ok(());
            }
        }
    }
    bail!("closed before the join ack")
}

/// Shared counters: per message, how many subscribers got it.
struct Progress {
    received: Vec<AtomicU32>,
    probes: AtomicU64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let clock = Instant::now();
    let progress = Arc::new(Progress {
        received: (0..args.messages).map(|_| AtomicU32::new(0)).collect(),
        probes: AtomicU64::new(0),
    });

    let mut subscribers = Vec::with_capacity(args.subscribers);
    for index in 0..args.subscribers {
        let url = &args.sub_urls[index % args.sub_urls.len()];
        let mut socket = connect(url).await?;
        join(&mut socket, &args.room).await?;
        subscribers.push(socket);
    }
    let mut readers = Vec::new();
    for mut socket in subscribers {
        let progress = progress.clone();
        readers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while let Some(Ok(message)) = socket.next().await {
                let Message::Text(text) = message else { continue };
                let Ok(frame) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                match frame["event"].as_str() {
                    Some("probe") => {
                        progress.probes.fetch_add(1, Ordering::Relaxed);
                    }
                    Some("m") => {
                        let data = &frame["data"];
                        let (Some(n), Some(t)) = (data["n"].as_u64(), data["t"].as_u64()) else {
                            continue;
                        };
                        let now = u64::try_from(clock.elapsed().as_micros()).unwrap_or(u64::MAX);
                        latencies.push(now.saturating_sub(t));
                        if let Some(slot) = progress.received.get(n as usize) {
                            slot.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    _ => {}
                }
                if frame["event"] == "done" {
                    break;
                }
            }
            latencies
        }));
    }

    let mut publisher = connect(&args.pub_url).await?;
    // Cross-node subscriptions are set up asynchronously: probe until every
    // subscriber hears the publisher.
    let wanted = args.subscribers as u64;
    let mut probe = 0u64;
    while progress.probes.load(Ordering::Relaxed) < wanted {
        if Instant::now() > deadline {
            bail!("subscribers never all heard the publisher");
        }
        progress.probes.store(0, Ordering::Relaxed);
        let frame = json!({"op": "publish", "room": args.room, "event": "probe", "data": probe});
        publisher.send(Message::Text(frame.to_string().into())).await?;
        probe += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let padding = "x".repeat(args.payload);
    let started = Instant::now();
    for n in 0..args.messages {
        if n >= args.window {
            let waited = &progress.received[n - args.window];
            while waited.load(Ordering::Relaxed) < args.subscribers as u32 {
                if Instant::now() > deadline {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        let t = u64::try_from(clock.elapsed().as_micros()).unwrap_or(u64::MAX);
        let frame = json!({"op": "publish", "room": args.room, "event": "m", "data": {"n": n, "t": t, "pad": padding}});
        publisher.send(Message::Text(frame.to_string().into())).await?;
    }
    // Wait for the tail, then tell the readers to stop.
    let all = |p: &Progress| {
        p.received
            .iter()
            .all(|r| r.load(Ordering::Relaxed) >= args.subscribers as u32)
    };
    while !all(&progress) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    let done = json!({"op": "publish", "room": args.room, "event": "done", "data": null});
    publisher.send(Message::Text(done.to_string().into())).await?;

    let mut latencies = Vec::new();
    for reader in readers {
        if let Ok(Ok(mut part)) = tokio::time::timeout(Duration::from_secs(10), reader).await {
            latencies.append(&mut part);
        }
    }
    latencies.sort_unstable();
    let deliveries = latencies.len();
    let expected = args.subscribers * args.messages;
    let percentile = |p: f64| {
        latencies
            .get(((deliveries as f64 * p) as usize).min(deliveries.saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    let result = json!({
        "scenario": "fanout",
        "subscribers": args.subscribers,
        "messages": args.messages,
        "payload_bytes": args.payload,
        "window": args.window,
        "deliveries": deliveries,
        "lost": expected.saturating_sub(deliveries),
        "seconds": elapsed.as_secs_f64(),
        "deliveries_per_sec": (deliveries as f64 / elapsed.as_secs_f64()).round(),
        "latency_us": {"p50": percentile(0.50), "p99": percentile(0.99), "max": latencies.last().copied().unwrap_or(0)},
    });
    println!("{result}");
    Ok(())
}
