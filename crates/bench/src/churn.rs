//! `churn`: workers that each repeat connect → join → publish (acked) →
//! disconnect. Reports cycles per second, failures and, given the
//! server's pid, its CPU time per cycle.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::task::JoinSet;

use crate::conn::{Conn, Protocol};
use crate::swarm::source;
use crate::TargetArgs;

/// `sockgate-bench churn`
#[derive(Debug, clap::Args)]
pub(crate) struct ChurnArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Cycles in all.
    #[arg(long, default_value_t = 5000)]
    cycles: usize,
    /// Their protocol.
    #[arg(long, value_enum, default_value_t = Protocol::Raw)]
    protocol: Protocol,
}

pub(crate) async fn run(args: ChurnArgs) -> anyhow::Result<Value> {
    let target = args.target.targets().remove(0);
    let servers = args.target.servers();
    let cpu_before = servers.cpu()?;
    let deadline = Instant::now() + Duration::from_secs(args.target.timeout);
    let workers = args.target.concurrency.max(1);
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for worker in 0..workers {
        let target = target.clone();
        let (protocol, sources) = (args.protocol, args.target.sources);
        let cycles = (worker..args.cycles).step_by(workers).count();
        tasks.spawn(async move {
            let (mut done, mut failed, mut first_error) = (0usize, 0usize, None);
            for cycle in 0..cycles {
                if Instant::now() > deadline {
                    break;
                }
                let room = format!("churn-{worker}");
                let result = async {
                    let mut conn = Conn::open(&target, protocol, source(worker, sources)).await?;
                    conn.join(&room).await?;
                    conn.publish_acked(&room, "c", &cycle.to_string()).await?;
                    conn.close().await;
                    anyhow::Ok(())
                }
                .await;
                match result {
                    Ok(()) => done += 1,
                    Err(error) => {
                        failed += 1;
                        first_error.get_or_insert_with(|| format!("{error:#}"));
                    }
                }
            }
            (done, failed, first_error)
        });
    }
    let (mut done, mut failed, mut first_error) = (0, 0, None);
    while let Some(joined) = tasks.join_next().await {
        let (d, f, e) = joined?;
        done += d;
        failed += f;
        first_error = first_error.or(e);
    }
    let elapsed = started.elapsed();
    let cpu = servers
        .cpu()?
        .zip(cpu_before)
        .map(|(after, before)| (after - before).as_secs_f64());
    Ok(json!({
        "scenario": "churn",
        "protocol": args.protocol,
        "cycles": done,
        "failed": failed,
        "first_error": first_error,
        "seconds": elapsed.as_secs_f64(),
        "cycles_per_sec": (done as f64 / elapsed.as_secs_f64()).round(),
        "server_cpu_seconds": cpu,
        "server_cpu_us_per_cycle": cpu.filter(|_| done > 0).map(|s| (s * 1e6 / done as f64).round()),
    }))
}
