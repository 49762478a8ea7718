//! The processes the soak runs and breaks: three (or more) sockgate nodes
//! it starts itself from the release binary, and the Redis Cluster it is
//! given, whose masters it finds and kills with `redis-cli` and `kill`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

/// One sockgate node: its port, config file and process.
pub(crate) struct Node {
    /// Its port on 127.0.0.1.
    pub(crate) port: u16,
    config: PathBuf,
    binary: PathBuf,
    child: Option<Child>,
}

impl Node {
    /// Writes the node's config next to `dir` and starts it on a free port.
    pub(crate) async fn start(binary: &Path, dir: &Path, index: usize, config: &str) -> anyhow::Result<Node> {
        let path = dir.join(format!("node-{index}.toml"));
        std::fs::write(&path, config).with_context(|| format!("write {}", path.display()))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut node = Node {
            port,
            config: path,
            binary: binary.to_owned(),
            child: None,
        };
        node.spawn().await?;
        Ok(node)
    }

    /// Starts the process (again) on the node's port; returns once `/healthz`
    /// answers.
    pub(crate) async fn spawn(&mut self) -> anyhow::Result<()> {
        let child = Command::new(&self.binary)
            .arg("--config")
            .arg(&self.config)
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .env(
                "RUST_LOG",
                std::env::var("SOAK_NODE_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawn {}", self.binary.display()))?;
        self.child = Some(child);
        let started = Instant::now();
        while !self.healthy().await {
            if started.elapsed() > Duration::from_secs(30) {
                bail!("node on port {} did not answer /healthz in 30 s", self.port);
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                bail!("node on port {} exited: {status}", self.port);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// Kills the process with SIGKILL and reaps it.
    pub(crate) async fn kill(&mut self) -> anyhow::Result<()> {
        let mut child = self.child.take().context("node not running")?;
        child.kill().await.context("SIGKILL a node")?;
        Ok(())
    }

    /// Its process id, while it runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Resident memory in bytes, from /proc.
    pub(crate) fn rss_bytes(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let kib: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())?;
        Some(kib * 1024)
    }

    async fn healthy(&self) -> bool {
        http_get(self.port, "/healthz")
            .await
            .is_some_and(|r| r.starts_with("HTTP/1.1 200"))
    }

    /// `GET /metrics`, the body.
    pub(crate) async fn metrics(&self) -> Option<String> {
        let response = http_get(self.port, "/metrics").await?;
        response.split_once("\r\n\r\n").map(|(_, body)| body.to_owned())
    }
}

/// A bounded `GET` on a fresh connection; the whole response.
async fn http_get(port: u16, path: &str) -> Option<String> {
    let exchange = async {
        let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        tcp.write_all(request.as_bytes()).await.ok()?;
        let mut response = Vec::new();
        tcp.read_to_end(&mut response).await.ok()?;
        Some(String::from_utf8_lossy(&response).into_owned())
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .ok()
        .flatten()
}

/// Sums a counter (every label set) from Prometheus text.
pub(crate) fn counter(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .filter(|line| line.starts_with(name) && !line.starts_with('#'))
        .filter(|line| line[name.len()..].starts_with([' ', '{']))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// The `host:port` seeds of a `redis-cluster://a?node=b&node=c` URL.
pub(crate) fn seeds(url: &str) -> Vec<String> {
    let Some(rest) = url.strip_prefix("redis-cluster://") else {
        return Vec::new();
    };
    let (first, query) = rest.split_once('?').unwrap_or((rest, ""));
    std::iter::once(first.trim_end_matches('/').to_owned())
        .chain(
            query
                .split('&')
                .filter_map(|p| p.strip_prefix("node="))
                .map(str::to_owned),
        )
        .collect()
}

/// `redis-cli -h host -p port args…`, bounded; its trimmed output.
async fn cli(seed: &str, args: &[&str]) -> Option<String> {
    let (host, port) = seed.split_once(':')?;
    let run = Command::new("redis-cli")
        .args(["-h", host, "-p", port])
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    let output = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    (output.status.success() && !text.starts_with("Could not connect")).then_some(text)
}

/// Every live master serving slots, from any seed's `CLUSTER NODES`:
/// `host:port` and its slot ranges.
pub(crate) async fn masters(seeds: &[String]) -> Vec<(String, Vec<(u16, u16)>)> {
    for seed in seeds {
        let Some(text) = cli(seed, &["CLUSTER", "NODES"]).await else {
            continue;
        };
        return text
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split(' ').collect();
                let live = fields
                    .get(2)
                    .is_some_and(|f| f.contains("master") && !f.contains("fail"));
                if fields.len() <= 8 || !live {
                    return None;
                }
                let slots = fields[8..]
                    .iter()
                    .filter(|range| !range.starts_with('['))
                    .filter_map(|range| match range.split_once('-') {
                        Some((from, to)) => Some((from.parse().ok()?, to.parse().ok()?)),
                        None => range.parse().ok().map(|slot| (slot, slot)),
                    })
                    .collect();
                Some((fields[1].split('@').next().unwrap_or_default().to_owned(), slots))
            })
            .collect();
    }
    Vec::new()
}

/// Every node, masters and replicas, `host:port`, from any seed.
pub(crate) async fn all_nodes(seeds: &[String]) -> Vec<String> {
    for seed in seeds {
        if let Some(text) = cli(seed, &["CLUSTER", "NODES"]).await {
            return text
                .lines()
                .filter_map(|line| Some(line.split(' ').nth(1)?.split('@').next()?.to_owned()))
                .collect();
        }
    }
    Vec::new()
}

/// What killing a master came to.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct MasterKill {
    /// `host:port` of the master killed.
    pub(crate) master: String,
    /// Its process id.
    pub(crate) pid: u32,
    /// The slot ranges it served.
    pub(crate) slots: Vec<(u16, u16)>,
    /// Seconds until another master served its slots and every live node
    /// said `cluster_state:ok`; `None` if that did not happen in 60 s.
    pub(crate) failover_seconds: Option<f64>,
}

/// SIGKILLs one master of the cluster (its process id from `INFO server`)
/// and waits, at most 60 s, for its replica to take over.
pub(crate) async fn kill_master(seeds: &[String]) -> anyhow::Result<MasterKill> {
    let before = masters(seeds).await;
    // A master the URL does not name, when there is one: the seeds stay up
    // for clients that start afresh.
    let (master, slots) = before
        .iter()
        .find(|(m, _)| !seeds.contains(m))
        .or(before.last())
        .context("no master found")?
        .clone();
    let info = cli(&master, &["INFO", "server"]).await.context("INFO server")?;
    let pid: u32 = info
        .lines()
        .find_map(|line| line.strip_prefix("process_id:"))
        .and_then(|pid| pid.trim().parse().ok())
        .context("process_id in INFO server")?;
    let nodes = all_nodes(seeds).await;
    let killed = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .await?;
    if !killed.success() {
        bail!("kill -KILL {pid} failed");
    }
    let started = Instant::now();
    let survivors: Vec<String> = nodes.into_iter().filter(|n| *n != master).collect();
    let mut failover_seconds = None;
    while started.elapsed() < Duration::from_secs(60) {
        let now = masters(&survivors).await;
        let mut ok = now.len() == before.len() && now.iter().all(|(m, _)| *m != master);
        for node in &survivors {
            ok &= cli(node, &["CLUSTER", "INFO"])
                .await
                .is_some_and(|i| i.contains("cluster_state:ok"));
        }
        if ok {
            failover_seconds = Some(started.elapsed().as_secs_f64());
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(MasterKill {
        master,
        pid,
        slots,
        failover_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_seeds_and_counters() {
        assert_eq!(
            seeds("redis-cluster://127.0.0.1:7000?node=127.0.0.1:7001&node=127.0.0.1:7002"),
            ["127.0.0.1:7000", "127.0.0.1:7001", "127.0.0.1:7002"]
        );
        assert!(seeds("redis://127.0.0.1:6379").is_empty());
        let metrics = "# HELP x\nsockgate_cluster_lost_total{room=\"a\"} 3\nsockgate_cluster_lost_total 2\nsockgate_cluster_lost_totalx 9\n";
        assert_eq!(counter(metrics, "sockgate_cluster_lost_total"), 5);
    }
}
