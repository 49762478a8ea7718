#![allow(clippy::print_stdout)] // The result line on stdout is this tool's output.

//! `sockgate-bench`: load scenarios against sockgate or any server with the
//! same contract (raw protocol v1 and socket.io `join` / `publish`; see
//! `bench/peers/README.md`): `idle`, `fanout`, `churn` and `soak`. Every loop is
//! bounded in count and time; the last line printed is a JSON result.

mod churn;
mod conn;
mod fanout;
mod idle;
mod polling;
mod server;
mod soak;
mod swarm;

use clap::{Parser, Subcommand};

use crate::conn::Target;
use crate::server::Servers;

/// Load scenarios for realtime gateways speaking sockgate's contract.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// N idle connections joined to rooms: connect rate, memory per connection.
    Idle(idle::IdleArgs),
    /// S subscribers, P publishers: deliveries/s, per server CPU-second, latency, losses.
    Fanout(fanout::FanoutArgs),
    /// connect → join → publish → disconnect cycles per second.
    Churn(churn::ChurnArgs),
    /// A mixed fleet over several nodes on a Redis Cluster, with faults:
    /// events lost and duplicated, reconnects, latency, memory.
    Soak(soak::SoakArgs),
}

/// Where the server is and how to reach it; shared by every scenario.
#[derive(Debug, clap::Args)]
struct TargetArgs {
    /// Server base URL(s) (`ws://127.0.0.1:3000`); clients go round-robin.
    #[arg(long = "url", default_value = "ws://127.0.0.1:3000")]
    urls: Vec<String>,
    /// Path of the raw WebSocket front.
    #[arg(long, default_value = "/ws")]
    raw_path: String,
    /// Path of the socket.io engine.
    #[arg(long, default_value = "/socket.io/")]
    sio_path: String,
    /// Server process id(s), to read their CPU time and memory from /proc.
    #[arg(long = "server-pid")]
    server_pids: Vec<u32>,
    /// Source addresses to spread connections over (127.0.0.1, .2, …);
    /// one address has about 28,000 ports.
    #[arg(long, default_value_t = 1)]
    sources: usize,
    /// Handshakes in flight at once (churn: concurrent workers).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
}

impl TargetArgs {
    fn targets(&self) -> Vec<Target> {
        self.urls
            .iter()
            .map(|base| Target {
                base: base.trim_end_matches('/').to_owned(),
                raw_path: self.raw_path.clone(),
                sio_path: self.sio_path.clone(),
            })
            .collect()
    }

    fn servers(&self) -> Servers {
        Servers::new(self.server_pids.clone())
    }
}

/// p50 / p99 / max of latencies in microseconds (sorts them).
fn percentiles(latencies: &mut [u64]) -> serde_json::Value {
    latencies.sort_unstable();
    let at = |p: f64| {
        let index = ((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1));
        latencies.get(index).copied().unwrap_or(0)
    };
    serde_json::json!({"p50": at(0.50), "p99": at(0.99), "max": latencies.last().copied().unwrap_or(0)})
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Tens of thousands of connections need as many files.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    // Progress on stderr (`RUST_LOG`, `info` by default); stdout is the result.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let result = match Cli::parse().scenario {
        Scenario::Idle(args) => idle::run(args).await?,
        Scenario::Fanout(args) => fanout::run(args).await?,
        Scenario::Churn(args) => churn::run(args).await?,
        Scenario::Soak(args) => soak::run(args).await?,
    };
    println!("{result}");
    Ok(())
}
