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

pub(crate) async fn run(args: IdleArgs) -> anyhow::Result<Value> {
    let target = args.target.targets().into_iter().next().context("no --url")?;
    let servers = args.target.servers();
    let rss_before = servers.rss_bytes()?;
    let kernel_before = crate::server::kernel_socket_memory();
    let plan = SwarmPlan {
        count: args.connections,
        concurrency: args.target.concurrency,
        sources: args.target.sources,
        timeout: Duration::from_secs(args.target.timeout),
    };
    let rooms = args.rooms.max(1);
    if args.transport == Transport::Polling {
        anyhow::ensure!(
            args.protocol == Protocol::Sio,
            "--transport polling needs --protocol sio"
        );
        return idle_polling(&args, &target, &servers, rss_before, rooms).await;
    }
    let swarm = swarm::open(
        &target,
        &plan,
        |_| args.protocol,
        |i| format!("idle-{}", i % rooms),
    )
    .await;
    let open = swarm.conns.len();
    // Keep every connection answering pings while the server settles.
    let holders: Vec<_> = swarm
        .conns
        .into_iter()
        .map(|mut conn| {
            tokio::spawn(async move { while let Ok(Incoming::Text(_)) = conn.next_text().await {} })
        })
        .collect();
    // What holding them costs: heartbeats, timers (over the settle time).
    let cpu_before = servers.cpu()?;
    tokio::time::sleep(Duration::from_secs(args.settle)).await;
    let idle_cpu = servers
        .cpu()?
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    let rss_after = servers.rss_bytes()?;
    let kernel_after = crate::server::kernel_socket_memory();
    for holder in &holders {
        holder.abort();
    }
    let per_connection = rss_before
        .zip(rss_after)
        .filter(|_| open > 0)
        .map(|(before, after)| after.saturating_sub(before) as f64 / open as f64);
    Ok(json!({
        "scenario": "idle",
        "protocol": args.protocol,
        "transport": args.transport,
        "connections": args.connections,
        "open": open,
        "failed": swarm.failed,
        "first_error": swarm.first_error,
        "connect_seconds": swarm.elapsed.as_secs_f64(),
        "connects_per_sec": (open as f64 / swarm.elapsed.as_secs_f64()).round(),
        "server_rss_before": rss_before,
        "server_rss_after": rss_after,
        "server_bytes_per_connection": per_connection.map(f64::round),
        // Both ends on this machine (loopback): half is one side's share.
        "kernel_bytes_per_connection_both_ends": kernel_before
            .zip(kernel_after)
            .filter(|_| open > 0)
            .map(|(before, after)| (after.saturating_sub(before) as f64 / open as f64).round()),
        "settle_seconds": args.settle,
        "idle_server_cpu_seconds": idle_cpu.map(|cpu| cpu.as_secs_f64()),
    }))
}

/// `idle --transport polling`: socket.io sessions on long-polling.
async fn idle_polling(
    args: &IdleArgs,
    target: &Target,
    servers: &Servers,
    rss_before: Option<u64>,
    rooms: usize,
) -> anyhow::Result<Value> {
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
    let open = holders.len();
    tokio::time::sleep(Duration::from_secs(args.settle)).await;
    let rss_after = servers.rss_bytes()?;
    for holder in &holders {
        holder.abort();
    }
    let per_connection = rss_before
        .zip(rss_after)
        .filter(|_| open > 0)
        .map(|(before, after)| after.saturating_sub(before) as f64 / open as f64);
    Ok(json!({
        "scenario": "idle",
        "protocol": args.protocol,
        "transport": args.transport,
        "connections": args.connections,
        "open": open,
        "failed": args.connections - open,
        "first_error": first_error,
        "connect_seconds": elapsed.as_secs_f64(),
        "connects_per_sec": (open as f64 / elapsed.as_secs_f64()).round(),
        "server_rss_before": rss_before,
        "server_rss_after": rss_after,
        "server_bytes_per_connection": per_connection.map(f64::round),
    }))
}
