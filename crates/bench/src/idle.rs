//! `idle`: N connections of one protocol, each joined to a room, held
//! open. Reports the connect rate, failed joins and, given the server's
//! pid, its memory per connection. socket.io connections use the
//! websocket transport, or long-polling with `--transport polling`.

use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::conn::{Incoming, Protocol, Target};
use crate::polling::PollingSession;
use crate::server::Servers;
use crate::swarm::{self, SwarmPlan};
use crate::TargetArgs;

/// `sockgate-bench idle`
#[derive(Debug, clap::Args)]
pub(crate) struct IdleArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Connections to open.
    #[arg(long, default_value_t = 1000)]
    connections: usize,
    /// Their protocol.
    #[arg(long, value_enum, default_value_t = Protocol::Raw)]
    protocol: Protocol,
    /// Rooms the connections are spread over (connection i joins `idle-{i mod rooms}`).
    #[arg(long, default_value_t = 100)]
    rooms: usize,
    /// Seconds to wait after the last join before measuring memory, so the
    /// server settles.
    #[arg(long, default_value_t = 2)]
    settle: u64,
    /// socket.io's transport (`--protocol sio` only).
    #[arg(long, value_enum, default_value_t = Transport::Websocket)]
    transport: Transport,
}

/// How socket.io connections are carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Transport {
    /// One websocket per connection.
    Websocket,
    /// engine.io long-polling: two keep-alive HTTP connections per session,
    /// one with a GET always pending.
    Polling,
}

/// The connections opened and held, before measuring.
struct Held {
    holders: Vec<tokio::task::JoinHandle<()>>,
    failed: usize,
    first_error: Option<String>,
    elapsed: Duration,
}

/// The server's state before the connections opened.
struct Before {
    rss: Option<u64>,
    kernel: Option<u64>,
}

pub(crate) async fn run(args: IdleArgs) -> anyhow::Result<Value> {
    let target = args.target.targets().into_iter().next().context("no --url")?;
    let servers = args.target.servers();
    let before = Before {
        rss: servers.rss_bytes()?,
        kernel: crate::server::kernel_socket_memory(),
    };
    let rooms = args.rooms.max(1);
    let held = match args.transport {
        Transport::Polling => {
            anyhow::ensure!(
                args.protocol == Protocol::Sio,
                "--transport polling needs --protocol sio"
            );
            hold_polling(&args, &target, rooms).await
        }
        Transport::Websocket => hold_websockets(&args, &target, rooms).await,
    };
    measure(&args, &servers, before, held).await
}

/// Opens websocket connections of `--protocol`, each answering pings.
async fn hold_websockets(args: &IdleArgs, target: &Target, rooms: usize) -> Held {
    let plan = SwarmPlan {
        count: args.connections,
        concurrency: args.target.concurrency,
        sources: args.target.sources,
        timeout: Duration::from_secs(args.target.timeout),
    };
    let swarm = swarm::open(
        target,
        &plan,
        |_| args.protocol,
        |i| format!("idle-{}", i % rooms),
    )
    .await;
    let holders = swarm
        .conns
        .into_iter()
        .map(|mut conn| {
            tokio::spawn(async move { while let Ok(Incoming::Text(_)) = conn.next_text().await {} })
        })
        .collect();
    Held {
        holders,
        failed: swarm.failed,
        first_error: swarm.first_error,
        elapsed: swarm.elapsed,
    }
}

/// `idle --transport polling`: socket.io sessions on long-polling.
async fn hold_polling(args: &IdleArgs, target: &Target, rooms: usize) -> Held {
    let timeout = Duration::from_secs(args.target.timeout);
    let started = Instant::now();
    let results: Vec<_> = futures_util::stream::iter(0..args.connections)
        .map(|i| async move {
            let room = format!("idle-{}", i % rooms);
            PollingSession::open(target, &room, timeout).await
        })
        .buffer_unordered(args.target.concurrency.max(1))
        .collect()
        .await;
    let elapsed = started.elapsed();
    let mut first_error = None;
    let mut holders = Vec::new();
    for result in results {
        match result {
            Ok(session) => holders.push(tokio::spawn(session.hold())),
            Err(error) => {
                first_error.get_or_insert_with(|| format!("{error:#}"));
            }
        }
    }
    Held {
        failed: args.connections - holders.len(),
        holders,
        first_error,
        elapsed,
    }
}

/// Waits `--settle` while the connections are held, then reads what they
/// cost the server: memory (its RSS, the machine's kernel socket memory)
/// and the CPU of holding them (heartbeats, timers).
async fn measure(args: &IdleArgs, servers: &Servers, before: Before, held: Held) -> anyhow::Result<Value> {
    let open = held.holders.len();
    let cpu_before = servers.cpu()?;
    tokio::time::sleep(Duration::from_secs(args.settle)).await;
    let idle_cpu = servers
        .cpu()?
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    let rss_after = servers.rss_bytes()?;
    let kernel_after = crate::server::kernel_socket_memory();
    for holder in &held.holders {
        holder.abort();
    }
    let per_open = |before: Option<u64>, after: Option<u64>| {
        before
            .zip(after)
            .filter(|_| open > 0)
            .map(|(before, after)| (after.saturating_sub(before) as f64 / open as f64).round())
    };
    Ok(json!({
        "scenario": "idle",
        "protocol": args.protocol,
        "transport": args.transport,
        "connections": args.connections,
        "open": open,
        "failed": held.failed,
        "first_error": held.first_error,
        "connect_seconds": held.elapsed.as_secs_f64(),
        "connects_per_sec": (open as f64 / held.elapsed.as_secs_f64()).round(),
        "server_rss_before": before.rss,
        "server_rss_after": rss_after,
        "server_bytes_per_connection": per_open(before.rss, rss_after),
        // Both ends on this machine (loopback): half is one side's share.
        "kernel_bytes_per_connection_both_ends": per_open(before.kernel, kernel_after),
        "settle_seconds": args.settle,
        "idle_server_cpu_seconds": idle_cpu.map(|cpu| cpu.as_secs_f64()),
    }))
}
