//! `idle`: N connections of one protocol, each joined to a room, held
//! open. Reports the connect rate, failed joins and, given the server's
//! pid, its memory per connection.

use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Value};

use crate::conn::{Incoming, Protocol};
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
