//! `soak`: a mixed fleet over several sockgate nodes on a Redis Cluster for
//! a given time, with faults: clients drop and resume at random, one node is
//! SIGKILLed and restarted, one Redis master is SIGKILLed (its replica takes
//! over). Publishers number their events per room; every receiver counts
//! what it lost and got twice ([`tally`]).
//!
//! The tool starts the sockgate nodes itself (it must restart the one it
//! kills); the Redis Cluster is given (`bench/soak.sh` or the e2e test
//! start one). Timeline, as shares of `--duration`: the fleet joins, the
//! publishers start; a Redis master dies at 30 %, a node at 55 % (back
//! after `--node-down`); at 100 % publishing and dropping stop, every
//! client is made to come back and resume, deliveries drain, and the
//! records are judged.

mod nodes;
mod peer;
mod raw;
mod tally;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::info;

use self::nodes::MasterKill;
use self::nodes::Node;
use self::peer::{Peer, PeerPlan};
use self::tally::{ClientLog, Expected, Latencies};

/// Events published this long before a master's kill may still be on
/// their way to it, and be numbered only after the failover.
const FAILOVER_BEFORE_MS: u64 = 1000;

/// After the replica took over (as `CLUSTER NODES` says), the nodes' Redis
/// client needs the new topology (about 6.5 s after the kill with the
/// 2 s `cluster-node-timeout` of `bench/soak.sh`) and the nodes subscribe
/// the shard's rooms again: until then, events of those rooms can reach no
/// live member (docs/clustering.md, "When a master fails").
const FAILOVER_AFTER_MS: u64 = 5000;

/// Where the soak is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Publishing, dropping, faults.
    Run,
    /// Publishing and drops stopped; everyone comes back.
    Settle,
    /// Over: clients close and report.
    Done,
}

/// `sockgate-bench soak`
#[derive(Debug, clap::Args)]
pub(crate) struct SoakArgs {
    /// The Redis Cluster (`redis-cluster://host:port?node=host:port&…`).
    #[arg(long)]
    redis_url: String,
    /// The sockgate binary to run the nodes from.
    #[arg(long, default_value = "target/release/sockgate")]
    sockgate_bin: PathBuf,
    /// Where `soak-peer.js` and its node_modules are.
    #[arg(long, default_value = "tests/js")]
    js_dir: PathBuf,
    /// sockgate nodes to start.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// How long to publish and break things, in seconds.
    #[arg(long, default_value_t = 600)]
    duration: u64,
    /// Rooms (`soak:0` …), all recoverable.
    #[arg(long, default_value_t = 32)]
    rooms: usize,
    /// Events published per second, over all rooms.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Publishing connections (raw), on the nodes that are not killed.
    #[arg(long, default_value_t = 2)]
    publishers: usize,
    /// Raw WebSocket receivers (every fourth never drops by itself).
    #[arg(long, default_value_t = 40)]
    raw: usize,
    /// socket.io v4 receivers over websocket.
    #[arg(long, default_value_t = 20)]
    v4_websocket: usize,
    /// socket.io v4 receivers over polling.
    #[arg(long, default_value_t = 10)]
    v4_polling: usize,
    /// socket.io v2 (EIO3) receivers over websocket.
    #[arg(long, default_value_t = 10)]
    v2: usize,
    /// Rooms each receiver joins.
    #[arg(long, default_value_t = 3)]
    rooms_per_client: usize,
    /// Mean seconds between a receiver's own drops.
    #[arg(long, default_value_t = 30.0)]
    drop_every: f64,
    /// Seconds the killed node stays down.
    #[arg(long, default_value_t = 5)]
    node_down: u64,
    /// Write every client's record, the publish times and the faults'
    /// times to this JSON file, to see where a loss happened.
    #[arg(long)]
    records: Option<PathBuf>,
}

/// Runs the soak; the JSON result.
pub(crate) async fn run(args: SoakArgs) -> anyhow::Result<Value> {
    if args.nodes < 2 || args.publishers == 0 || args.rooms == 0 {
        bail!("the soak needs at least 2 nodes, a publisher and a room");
    }
    let seeds = nodes::seeds(&args.redis_url);
    if seeds.is_empty() {
        bail!("--redis-url must be a redis-cluster:// URL: the soak kills a master");
    }
    let duration = Duration::from_secs(args.duration);
    let dir = std::env::temp_dir().join(format!("sockgate-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let config = node_config(&args.redis_url);
    let mut nodes = Vec::new();
    for index in 0..args.nodes {
        nodes.push(Node::start(&args.sockgate_bin, &dir, index, &config).await?);
    }
    info!(ports = ?nodes.iter().map(|n| n.port).collect::<Vec<_>>(), "nodes up");
    let result = soak(&args, duration, &seeds, &mut nodes).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Every node's config: the cluster, recovery for the soak's rooms, and no
/// per-address limits (every client comes from 127.0.0.1).
fn node_config(redis_url: &str) -> String {
    format!(
        "[cluster]\nredis_url = \"{redis_url}\"\n\
         [rooms]\nrecover = [\"soak:*\"]\nhistory_size = 100000\nhistory_ttl = \"10m\"\n\
         [limits]\nmessages_per_second = 1000000\nmessage_burst = 1000000\n\
         connects_per_second_per_ip = 0\nmax_connections_per_ip = 0\n"
    )
}

async fn soak(
    args: &SoakArgs,
    duration: Duration,
    seeds: &[String],
    nodes: &mut [Node],
) -> anyhow::Result<Value> {
    let rooms: Vec<String> = (0..args.rooms).map(|i| format!("soak:{i}")).collect();
    let raw_urls: Arc<Vec<String>> = Arc::new(
        nodes
            .iter()
            .map(|n| format!("ws://127.0.0.1:{}/ws", n.port))
            .collect(),
    );
    let http_urls: Vec<String> = nodes
        .iter()
        .map(|n| format!("http://127.0.0.1:{}", n.port))
        .collect();
    let drop_every = Duration::from_secs_f64(args.drop_every.max(1.0));
    let (phase_tx, phase) = watch::channel(Phase::Run);

    // The fleet joins its rooms.
    let mut receivers = JoinSet::new();
    for index in 0..args.raw {
        let rooms_of = (0..args.rooms_per_client.min(rooms.len()))
            .map(|j| rooms[(index * 7 + j * 5) % rooms.len()].clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        receivers.spawn(raw::receiver(raw::ReceiverPlan {
            index,
            urls: raw_urls.clone(),
            rooms: rooms_of,
            drop_every: (index % 4 != 3).then_some(drop_every),
            phase: phase.clone(),
        }));
    }
    let js_dir = args
        .js_dir
        .canonicalize()
        .with_context(|| format!("{}", args.js_dir.display()))?;
    let mut peer = Peer::start(
        &PeerPlan {
            js_dir: &js_dir,
            urls: http_urls,
            rooms: rooms.clone(),
            rooms_per_client: args.rooms_per_client,
            v4_websocket: args.v4_websocket,
            v4_polling: args.v4_polling,
            v2: args.v2,
            drop_every,
            first_index: args.raw,
        },
        Duration::from_secs(120),
    )
    .await?;
    // Raw receivers join in well under the time the peer took; give them a
    // moment more (bounded) rather than track each join.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let memory_before: Vec<Option<u64>> = nodes.iter().map(Node::rss_bytes).collect();
    info!(
        clients = args.raw + args.v4_websocket + args.v4_polling + args.v2,
        "fleet joined; publishing"
    );

    // Publishers, on the nodes that stay up (the last one is killed).
    let victim = nodes.len() - 1;
    let mut publishers = JoinSet::new();
    for p in 0..args.publishers {
        let own: Vec<String> = rooms.iter().skip(p).step_by(args.publishers).cloned().collect();
        if own.is_empty() {
            continue;
        }
        let url = raw_urls[p % victim].clone();
        let rate = args.rate / args.publishers as f64;
        publishers.spawn(raw::publisher(url, own, rate, phase.clone()));
    }

    // The faults, on the clock.
    let started = Instant::now();
    let publish_started_ms = raw::now_us() / 1000;
    let mut events = Vec::new();
    let at = |share: f64| started + duration.mul_f64(share);
    tokio::time::sleep_until(at(0.30).into()).await;
    info!("killing a Redis master");
    events.push(json!({"master_kill_ms": raw::now_us() / 1000}));
    let kill_ms = raw::now_us() / 1000;
    let master_kill = nodes::kill_master(seeds).await;
    let failed_over_ms = raw::now_us() / 1000;
    events.push(json!({"failed_over_ms": failed_over_ms}));
    let failover_window = (
        kill_ms.saturating_sub(FAILOVER_BEFORE_MS),
        failed_over_ms + FAILOVER_AFTER_MS,
    );
    info!(?master_kill, "Redis master killed");
    tokio::time::sleep_until(at(0.55).into()).await;
    let killed_at = started.elapsed().as_secs_f64();
    events.push(json!({"node_kill_ms": raw::now_us() / 1000}));
    let node_kill = match nodes[victim].kill().await {
        Ok(()) => {
            info!(port = nodes[victim].port, "node killed");
            tokio::time::sleep(Duration::from_secs(args.node_down)).await;
            nodes[victim]
                .spawn()
                .await
                .map(|()| started.elapsed().as_secs_f64())
        }
        Err(error) => Err(error),
    };
    info!(?node_kill, "node restarted");
    tokio::time::sleep_until(at(1.0).into()).await;

    // Stop publishing and dropping; everyone comes back; deliveries drain.
    phase_tx.send_replace(Phase::Settle);
    let mut published = raw::Published::default();
    while let Some(one) = publishers.join_next().await {
        let one = one?;
        published.acked += one.acked;
        published.unacked += one.unacked;
        published.reconnects += one.reconnects;
        published.last.extend(one.last);
        published.sent_ms.extend(one.sent_ms);
    }
    let settled = peer.settle(Duration::from_secs(120)).await?;
    // Raw receivers reconnect within a second; in-flight events drain.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let memory_after: Vec<Option<u64>> = nodes.iter().map(Node::rss_bytes).collect();
    let mut cluster_lost = 0;
    for node in nodes.iter() {
        cluster_lost += node
            .metrics()
            .await
            .map(|m| nodes::counter(&m, "sockgate_cluster_lost_total"))
            .unwrap_or(0);
    }
    phase_tx.send_replace(Phase::Done);

    let mut clients: Vec<ClientLog> = Vec::new();
    let mut latencies = Latencies::default();
    while let Some(one) = receivers.join_next().await {
        let (log, lat) = one?;
        clients.push(log);
        latencies.merge(&lat);
    }
    let (peer_clients, peer_latencies) = peer.report().await?;
    clients.extend(peer_clients);
    latencies.merge(&peer_latencies);

    let expected = Expected {
        in_failover: in_failover(&published, master_kill.as_ref().ok(), failover_window),
        last: published.last.clone(),
    };
    let published_last = &expected.last;
    let verdict = tally::judge(&clients, &expected, None);
    let mut by_kind = serde_json::Map::new();
    for kind in ["raw", "v4-websocket", "v4-polling", "v2"] {
        let of_kind = tally::judge(&clients, &expected, Some(kind));
        by_kind.insert(kind.into(), serde_json::to_value(of_kind)?);
    }
    if let Some(path) = &args.records {
        let records = json!({"clients": clients, "published": published_last, "sent_ms": published.sent_ms,
            "in_failover": expected.in_failover,
            "publish_started_ms": publish_started_ms, "events": events});
        std::fs::write(path, records.to_string()).with_context(|| format!("write {}", path.display()))?;
    }
    let delivered: u64 = clients.iter().map(|c| c.received).sum();
    Ok(json!({
        "scenario": "soak",
        "seconds": started.elapsed().as_secs_f64().round(),
        "nodes": nodes.len(),
        "rooms": rooms.len(),
        "clients": {"raw": args.raw, "v4_websocket": args.v4_websocket, "v4_polling": args.v4_polling, "v2": args.v2},
        "published": published_last.values().sum::<u64>(),
        "publish_acked": published.acked,
        "publish_unacked": published.unacked,
        "delivered": delivered,
        "lost_resumed": verdict.lost_resumed,
        "duplicated": verdict.duplicated,
        "lost_live": verdict.lost_live,
        "gap_declared": verdict.gap_declared,
        "lost_everywhere": verdict.lost_everywhere,
        "lost_failover": verdict.lost_failover,
        "lost_failover_resumed": verdict.lost_failover_resumed,
        "failover_rooms": expected.in_failover.len(),
        "clients_resumed": verdict.clients_resumed,
        "clients_resumed_with_loss": verdict.clients_resumed_with_loss,
        "by_kind": by_kind,
        "reconnects": clients.iter().map(|c| c.reconnects).sum::<u64>(),
        "sessions_found": clients.iter().map(|c| c.sessions_found).sum::<u64>(),
        "resume_timeouts": clients.iter().map(|c| c.resume_timeouts).sum::<u64>(),
        "settled_peer_clients": settled,
        "latency_us": {"p50": latencies.quantile(0.50), "p99": latencies.quantile(0.99), "count": latencies.count()},
        "faults": {
            "master_kill": match &master_kill {
                Ok(kill) => json!(kill),
                Err(error) => json!({"error": format!("{error:#}")}),
            },
            "node_kill": match &node_kill {
                Ok(back) => json!({"node": victim, "killed_at_s": killed_at.round(), "back_at_s": back.round()}),
                Err(error) => json!({"error": format!("{error:#}")}),
            },
        },
        "cluster_lost_total": cluster_lost,
        "memory_bytes": {"before": memory_before, "after": memory_after},
    }))
}

/// Per room, the sequence numbers published during the failover
/// (`window`, ms since the epoch). Every room's, not only those of the
/// killed master's slots: the nodes' Redis client reconnects as a whole,
/// and the soak saw members resumed during the failover miss events of
/// rooms on shards that stayed up.
fn in_failover(
    published: &raw::Published,
    kill: Option<&MasterKill>,
    window: (u64, u64),
) -> HashMap<String, std::collections::BTreeSet<u64>> {
    if kill.is_none() {
        return HashMap::new();
    }
    published
        .sent_ms
        .iter()
        .map(|(room, sent)| {
            let seqs = sent
                .iter()
                .enumerate()
                .filter(|(_, &at)| (window.0..=window.1).contains(&at))
                .map(|(index, _)| index as u64 + 1)
                .collect();
            (room.clone(), seqs)
        })
        .collect()
}
