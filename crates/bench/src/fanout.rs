//! `fanout`: S subscribers in one room (raw, socket.io or half and half),
//! P publishers, M messages with a timestamp each. Reports deliveries per
//! second and per server CPU-second, latency percentiles and lost
//! deliveries.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::{json, Value};

use crate::conn::{number_after, Conn, EventMatcher, Incoming, Protocol};
use crate::swarm::{self, SwarmPlan};
use crate::{percentiles, TargetArgs};

/// Which protocols the subscribers speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Mix {
    /// All raw.
    Raw,
    /// All socket.io.
    Sio,
    /// Every other subscriber on each.
    Mixed,
}

/// `sockgate-bench fanout`
#[derive(Debug, clap::Args)]
pub(crate) struct FanoutArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Subscribers, all in one room.
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    /// Protocol(s) of the subscribers.
    #[arg(long, value_enum, default_value_t = Mix::Raw)]
    sub_protocol: Mix,
    /// Publishers (message n is sent by publisher n mod P).
    #[arg(long, default_value_t = 1)]
    publishers: usize,
    /// Protocol of the publishers.
    #[arg(long, value_enum, default_value_t = Protocol::Raw)]
    pub_protocol: Protocol,
    /// Publish on this server (`ws://host:port`) instead of the first --url.
    #[arg(long)]
    pub_url: Option<String>,
    /// Messages to publish.
    #[arg(long, default_value_t = 2000)]
    messages: usize,
    /// Bytes of padding in each message's data.
    #[arg(long, default_value_t = 100)]
    payload: usize,
    /// Messages in flight: message n waits until n-window reached everyone.
    #[arg(long, default_value_t = 64)]
    window: usize,
    /// Messages per second in all (0: as fast as the window allows).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Room name.
    #[arg(long, default_value = "bench")]
    room: String,
    /// Rooms to spread over (`<room>-0`, `<room>-1`, …): subscriber i joins
    /// room i mod N and message n goes to room n mod N, so a Redis
    /// Cluster's shards share the traffic. 1: one room named `--room`.
    #[arg(long, default_value_t = 1)]
    rooms: usize,
}

struct Progress {
    received: Vec<AtomicU32>,
    heard: AtomicUsize,
}

/// Which room each subscriber joins and each message goes to.
#[derive(Clone)]
struct Rooms {
    stem: String,
    count: usize,
    subscribers: usize,
}

impl Rooms {
    fn name(&self, index: usize) -> String {
        match self.count {
            1 => self.stem.clone(),
            count => format!("{}-{}", self.stem, index % count),
        }
    }
    /// Subscribers of the room message `n` goes to.
    fn receivers(&self, n: usize) -> u32 {
        let room = n % self.count;
        (self.subscribers.saturating_sub(room) + self.count - 1) as u32 / self.count as u32
    }
}

pub(crate) async fn run(args: FanoutArgs) -> anyhow::Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(args.target.timeout);
    let targets = args.target.targets();
    let plan = SwarmPlan {
        count: args.subscribers,
        concurrency: args.target.concurrency,
        sources: args.target.sources,
        timeout: Duration::from_secs(args.target.timeout),
    };
    let rooms = Rooms {
        stem: args.room.clone(),
        count: args.rooms.max(1),
        subscribers: args.subscribers,
    };
    let mix = args.sub_protocol;
    let protocol_of = move |i: usize| match mix {
        Mix::Raw => Protocol::Raw,
        Mix::Sio => Protocol::Sio,
        Mix::Mixed if i.is_multiple_of(2) => Protocol::Raw,
        Mix::Mixed => Protocol::Sio,
    };
    // Subscribers go round-robin over the servers (a cluster's nodes).
    let mut subscribers = Vec::new();
    for (k, target) in targets.iter().enumerate() {
        let share = SwarmPlan {
            count: (args.subscribers + targets.len() - 1 - k) / targets.len(),
            ..plan
        };
        let first = subscribers.len();
        let swarm = swarm::open(target, &share, protocol_of, |i| rooms.name(first + i)).await;
        if swarm.failed > 0 {
            bail!(
                "{} subscribers failed: {}",
                swarm.failed,
                swarm.first_error.unwrap_or_default()
            );
        }
        subscribers.extend(swarm.conns);
    }

    let clock = Instant::now();
    let progress = Arc::new(Progress {
        received: (0..args.messages).map(|_| AtomicU32::new(0)).collect(),
        heard: AtomicUsize::new(0),
    });
    let readers: Vec<_> = subscribers
        .into_iter()
        .map(|conn| tokio::spawn(read_events(conn, progress.clone(), clock)))
        .collect();

    let pub_target = match &args.pub_url {
        Some(url) => crate::conn::Target {
            base: url.clone(),
            ..targets[0].clone()
        },
        None => targets[0].clone(),
    };
    let mut publishers = Vec::new();
    for _ in 0..args.publishers.max(1) {
        publishers.push(Conn::open(&pub_target, args.pub_protocol, None).await?);
    }
    // Cross-node subscriptions are set up asynchronously: probe until
    // every subscriber has heard the publisher.
    let mut probe = 0u64;
    while progress.heard.load(Ordering::Relaxed) < args.subscribers {
        if Instant::now() > deadline {
            bail!("subscribers never all heard the publisher");
        }
        for room in 0..rooms.count.min(args.subscribers.max(1)) {
            publishers[0]
                .publish(&rooms.name(room), "probe", &probe.to_string())
                .await?;
        }
        probe += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let servers = args.target.servers();
    let cpu_before = servers.cpu()?;
    let padding = "x".repeat(args.payload);
    let started = Instant::now();
    let count = publishers.len();
    let mut sending = Vec::new();
    for (p, mut publisher) in publishers.into_iter().enumerate() {
        let (progress, padding, rooms) = (progress.clone(), padding.clone(), rooms.clone());
        let (messages, window, rate) = (args.messages, args.window.max(1), args.rate);
        sending.push(tokio::spawn(async move {
            for n in (p..messages).step_by(count) {
                if rate > 0 {
                    let due = started + Duration::from_secs_f64(n as f64 / rate as f64);
                    tokio::time::sleep_until(due.into()).await;
                }
                if n >= window {
                    let behind = n - window;
                    while progress.received[behind].load(Ordering::Relaxed) < rooms.receivers(behind) {
                        if Instant::now() > deadline {
                            return publisher;
                        }
                        tokio::task::yield_now().await;
                    }
                }
                let t = clock.elapsed().as_micros();
                let data = format!(r#"{{"n":{n},"t":{t},"pad":"{padding}"}}"#);
                if publisher.publish(&rooms.name(n), "m", &data).await.is_err() {
                    break;
                }
            }
            publisher
        }));
    }
    let mut publishers = Vec::new();
    for task in sending {
        publishers.push(task.await?);
    }
    while !progress
        .received
        .iter()
        .enumerate()
        .all(|(n, r)| r.load(Ordering::Relaxed) >= rooms.receivers(n))
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = started.elapsed();
    let cpu = servers
        .cpu()?
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    for room in 0..rooms.count.min(args.subscribers.max(1)) {
        publishers[0].publish(&rooms.name(room), "done", "null").await?;
    }

    let mut latencies = Vec::new();
    for reader in readers {
        if let Ok(Ok(mut part)) = tokio::time::timeout(Duration::from_secs(10), reader).await {
            latencies.append(&mut part);
        }
    }
    let delivered: u64 = progress
        .received
        .iter()
        .map(|r| u64::from(r.load(Ordering::Relaxed)))
        .sum();
    let expected_total: u64 = (0..args.messages).map(|n| u64::from(rooms.receivers(n))).sum();
    let cpu_seconds = cpu.map(|cpu| cpu.as_secs_f64());
    Ok(json!({
        "scenario": "fanout",
        "sub_protocol": args.sub_protocol,
        "pub_protocol": args.pub_protocol,
        "subscribers": args.subscribers,
        "publishers": count,
        "rooms": rooms.count,
        "messages": args.messages,
        "payload_bytes": args.payload,
        "window": args.window,
        "rate": args.rate,
        "deliveries": delivered,
        "lost": expected_total.saturating_sub(delivered),
        "seconds": elapsed.as_secs_f64(),
        "deliveries_per_sec": (delivered as f64 / elapsed.as_secs_f64()).round(),
        "server_cpu_seconds": cpu_seconds,
        "deliveries_per_server_cpu_sec": cpu_seconds.map(|s| (delivered as f64 / s).round()),
        "latency_us": percentiles(&mut latencies),
    }))
}

/// Reads one subscriber's events until `done`; returns its latencies (µs).
async fn read_events(mut conn: Conn, progress: Arc<Progress>, clock: Instant) -> Vec<u64> {
    let (message, probe, done) = (
        EventMatcher::new("m"),
        EventMatcher::new("probe"),
        EventMatcher::new("done"),
    );
    let mut latencies = Vec::new();
    let mut heard = false;
    while let Ok(Incoming::Text(text)) = conn.next_text().await {
        if message.matches(&text) {
            let (Some(n), Some(t)) = (number_after(&text, r#""n":"#), number_after(&text, r#""t":"#)) else {
                continue;
            };
            let now = clock.elapsed().as_micros() as u64;
            latencies.push(now.saturating_sub(t));
            if let Some(slot) = progress.received.get(n as usize) {
                slot.fetch_add(1, Ordering::Relaxed);
            }
        } else if probe.matches(&text) {
            if !heard {
                heard = true;
                progress.heard.fetch_add(1, Ordering::Relaxed);
            }
        } else if done.matches(&text) {
            break;
        }
    }
    conn.close().await;
    latencies
}
