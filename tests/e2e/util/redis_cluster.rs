//! A private Redis Cluster per test: six `redis-server --cluster-enabled
//! yes` on free loopback ports (three masters, three replicas), each in a
//! temp directory of its own, joined by `redis-cli --cluster create`.
//! Everything is killed, and the directories removed, when it is dropped.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::process::{Child, Command};

/// How long the cluster may take to form (six processes, slot
/// assignment, gossip until every node says `cluster_state:ok`).
const FORM: Duration = Duration::from_secs(60);

/// One node of the cluster.
struct Node {
    port: u16,
    child: Option<Child>,
}

/// A running Redis Cluster, killed when dropped.
pub struct RedisCluster {
    nodes: Vec<Node>,
    dir: PathBuf,
}

/// A master of the cluster and the slots it serves.
#[derive(Debug, Clone)]
pub struct Master {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its slot ranges, inclusive.
    pub slots: Vec<(u16, u16)>,
}

impl Master {
    /// Whether it serves `slot`.
    pub fn serves(&self, slot: u16) -> bool {
        self.slots.iter().any(|&(from, to)| (from..=to).contains(&slot))
    }
}

impl RedisCluster {
    /// Starts six nodes and makes them one cluster of three masters with a
    /// replica each; returns once every node reports `cluster_state:ok`.
    pub async fn start() -> RedisCluster {
        static STARTED: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sockgate-e2e-redis-cluster-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the cluster's temp directory");
        // Data ports and cluster-bus ports, all held until the servers start
        // (a bus port is its own free port: port + 10000 may not exist).
        let listeners: Vec<std::net::TcpListener> = (0..12)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port"))
            .collect();
        let ports: Vec<u16> = listeners.iter().map(|l| l.local_addr().unwrap().port()).collect();
        drop(listeners);
        let mut cluster = RedisCluster {
            nodes: Vec::new(),
            dir,
        };
        for i in 0..6 {
            let (port, bus) = (ports[i], ports[i + 6]);
            let node_dir = cluster.dir.join(port.to_string());
            std::fs::create_dir_all(&node_dir).expect("create a node's directory");
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--cluster-port", &bus.to_string()])
                .args(["--bind", "127.0.0.1", "--protected-mode", "no"])
                .args(["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"])
                .args(["--cluster-node-timeout", "2000"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(&node_dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("spawn redis-server (is it installed?)");
            cluster.nodes.push(Node {
                port,
                child: Some(child),
            });
        }
        tokio::time::timeout(FORM, cluster.form())
            .await
            .expect("the Redis Cluster did not form");
        cluster
    }

    async fn form(&self) {
        for node in &self.nodes {
            while cli(node.port, &["PING"]).await.as_deref() != Some("PONG") {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let addresses: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .await
            .expect("run redis-cli (is redis-tools installed?)");
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        // Every node must agree before a client asks any of them for slots.
        loop {
            let mut ok = true;
            for node in &self.nodes {
                let info = cli(node.port, &["CLUSTER", "INFO"]).await.unwrap_or_default();
                ok &= info.contains("cluster_state:ok");
                // A replica that has not synced yet could not take over.
                let replication = cli(node.port, &["INFO", "replication"]).await.unwrap_or_default();
                ok &= replication.contains("role:master") || replication.contains("master_link_status:up");
            }
            if ok && self.masters().await.len() == 3 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `redis-cluster://` URL naming two seed nodes, as an operator would
    /// write it.
    pub fn url(&self) -> String {
        format!(
            "redis-cluster://127.0.0.1:{}?node=127.0.0.1:{}",
            self.nodes[0].port, self.nodes[1].port
        )
    }

    /// `redis://` URL of one node (what a plain client, such as a Node
    /// backend's, may connect to: a plain `PUBLISH` there reaches every node).
    pub fn node_url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.nodes[0].port)
    }

    /// The masters and their slots, as the first live node sees them.
    pub async fn masters(&self) -> Vec<Master> {
        for node in self.nodes.iter().filter(|n| n.child.is_some()) {
            let Some(text) = cli(node.port, &["CLUSTER", "NODES"]).await else {
                continue;
            };
            return text
                .lines()
                .filter_map(|line| {
                    let fields: Vec<&str> = line.split(' ').collect();
                    if fields.len() < 8 || !fields[2].contains("master") || fields[2].contains("fail") {
                        return None;
                    }
                    let port = fields[1].split(['@', ':']).nth(1)?.parse().ok()?;
                    let slots = fields[8..]
                        .iter()
                        .filter(|range| !range.starts_with('['))
                        .filter_map(|range| match range.split_once('-') {
                            Some((from, to)) => Some((from.parse().ok()?, to.parse().ok()?)),
                            None => range.parse().ok().map(|slot| (slot, slot)),
                        })
                        .collect::<Vec<_>>();
                    (!slots.is_empty()).then_some(Master { port, slots })
                })
                .collect();
        }
        Vec::new()
    }

    /// The port of the master that serves `key`.
    pub async fn master_of(&self, key: &str) -> u16 {
        let slot = key_slot(key);
        self.masters()
            .await
            .iter()
            .find(|m| m.serves(slot))
            .map(|m| m.port)
            .unwrap_or_else(|| panic!("no master serves slot {slot}"))
    }

    /// Kills the node at `port` with SIGKILL (no goodbye to its clients or
    /// to the cluster).
    pub fn kill(&mut self, port: u16) {
        let node = self
            .nodes
            .iter_mut()
            .find(|node| node.port == port)
            .unwrap_or_else(|| panic!("no node on port {port}"));
        if let Some(mut child) = node.child.take() {
            let _ = child.start_kill();
        }
    }

    /// Kills every node with SIGKILL: the whole cluster is gone.
    pub fn kill_all(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.start_kill();
            }
        }
    }

    /// Waits until a live master other than `dead` serves `slot` and every
    /// live node reports `cluster_state:ok` again (its replica took over).
    pub async fn wait_for_failover(&self, dead: u16, slot: u16) -> u16 {
        tokio::time::timeout(FORM, async {
            loop {
                let masters = self.masters().await;
                let owner = masters.iter().find(|m| m.serves(slot)).map(|m| m.port);
                if let Some(owner) = owner.filter(|&port| port != dead) {
                    let mut ok = true;
                    for node in self.nodes.iter().filter(|n| n.child.is_some()) {
                        let info = cli(node.port, &["CLUSTER", "INFO"]).await.unwrap_or_default();
                        ok &= info.contains("cluster_state:ok");
                    }
                    if ok {
                        return owner;
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!("no replica took over the killed master's slots");
        })
    }

    /// Runs a command on the node at `port` (`redis-cli`'s raw output).
    pub async fn command(&self, port: u16, args: &[&str]) -> String {
        cli(port, args)
            .await
            .unwrap_or_else(|| panic!("redis-cli -p {port} {args:?} failed"))
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(child) = node.child.as_mut() {
                let _ = child.start_kill();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `redis-cli -p port args…` and returns its trimmed output, or
/// `None` when it failed (the node is not up yet).
async fn cli(port: u16, args: &[&str]) -> Option<String> {
    let output = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    (output.status.success() && !text.starts_with("Could not connect")).then_some(text)
}

/// The hash slot of a key, as Redis Cluster computes it: CRC16 (XMODEM)
/// of its hash tag (what lies between the first `{` and the next `}`,
/// when not empty) or of the whole key, modulo 16384.
pub fn key_slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let hashed = match bytes.iter().position(|&b| b == b'{') {
        Some(open) => match bytes[open + 1..].iter().position(|&b| b == b'}') {
            Some(len) if len > 0 => &bytes[open + 1..open + 1 + len],
            _ => bytes,
        },
        None => bytes,
    };
    crc16(hashed) % 16384
}

fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in bytes {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = match crc & 0x8000 {
                0 => crc << 1,
                _ => (crc << 1) ^ 0x1021,
            };
        }
    }
    crc
}

#[test]
fn key_slots_match_redis() {
    // Values from `CLUSTER KEYSLOT` on Redis 7.0.
    assert_eq!(key_slot("p#room#{act42}"), key_slot("act42"));
    assert_eq!(key_slot("foo"), 12182);
    assert_eq!(key_slot("act42"), 10763);
    assert_eq!(key_slot("{}foo"), key_slot("{}foo"));
}
