//! The cluster-wide directory in Redis: each node keeps a hash of its
//! connections (`<prefix>:node:<id>:conns`, sid → JSON record) and a
//! heartbeat key, both expiring `node_ttl` after its last heartbeat, so a
//! dead node's connections drop out of every count within that time.

use std::collections::BTreeMap;
use std::sync::Weak;
use std::time::Duration;

use fred::prelude::*;
use sockgate_core::{ClusterStatus, ConnRecord, ConnSnapshot, Directory, DirectoryFuture, ShardStatus, Sid};
use tracing::debug;

use crate::keys::Keys;
use crate::ClusterBus;

/// Writes (or, for a connection that is gone, removes) one record, with
/// `client` or queued on a pipeline.
pub(crate) async fn write_record<C: HashesInterface + Sync>(
    client: &C,
    keys: &Keys,
    sid: Sid,
    snapshot: Option<&ConnSnapshot>,
) -> Result<(), Error> {
    let key = keys.conns(keys.node());
    match snapshot {
        Some(snapshot) => {
            let mut record = ConnRecord::from(snapshot);
            record.node = Some(keys.node().to_owned());
            let json = serde_json::to_string(&record).unwrap_or_default();
            client.hset::<(), _, _>(key, (sid.to_string(), json)).await
        }
        None => client.hdel::<(), _, _>(key, sid.to_string()).await,
    }
}

/// Refreshes this node's heartbeat and the expiry of its records.
pub(crate) async fn heartbeat_loop(
    bus: Weak<ClusterBus>,
    client: Client,
    keys: Keys,
    every: Duration,
    ttl: Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    loop {
        tick.tick().await;
        if bus.upgrade().is_none() {
            return;
        }
        let beat = async {
            client
                .set::<(), _, _>(
                    keys.alive(keys.node()),
                    "1",
                    Some(Expiration::PX(ttl_ms)),
                    None,
                    false,
                )
                .await?;
            client
                .pexpire::<(), _>(keys.conns(keys.node()), ttl_ms, None)
                .await?;
            client.sadd::<(), _, _>(keys.nodes(), keys.node()).await
        };
        if let Err(error) = beat.await {
            debug!(%error, "heartbeat failed");
        }
    }
}

impl ClusterBus {
    /// Every live node's records.
    async fn records(&self) -> Result<Vec<ConnRecord>, Error> {
        let client = self.client();
        let keys = self.keys();
        let nodes: Vec<String> = client.smembers(keys.nodes()).await?;
        let mut records = Vec::new();
        for node in nodes {
            let alive: bool = client.exists(keys.alive(&node)).await?;
            if !alive {
                // Its records expire by themselves; forget the id too.
                let _: Result<(), Error> = client.srem(keys.nodes(), node.as_str()).await;
                continue;
            }
            let values: Vec<String> = client.hvals(keys.conns(&node)).await?;
            records.extend(
                values
                    .iter()
                    .filter_map(|v| serde_json::from_str::<ConnRecord>(v).ok()),
            );
        }
        Ok(records)
    }

    /// Removes this node's heartbeat and records from the directory.
    pub(crate) async fn remove_records(&self) {
        let keys = self.keys();
        let node = keys.node().to_owned();
        // One key per DEL: a node's keys may sit on different shards.
        let mut removed: Result<(), Error> = Ok(());
        for key in [keys.alive(&node), keys.conns(&node)] {
            removed = removed.and(self.client().del::<(), _>(key).await);
        }
        let forgotten: Result<(), Error> = self.client().srem(keys.nodes(), node).await;
        if let Err(error) = removed.and(forgotten) {
            debug!(%error, "removing this node's records failed: they expire after cluster.node_ttl");
        }
    }

    /// On a Redis Cluster, its masters as the client last learned them
    /// (fred refreshes the slot map on redirections and reconnects), each
    /// with whether both of this node's clients are connected to it now.
    ///
    /// fred's clustered client reconnects as a whole when it loses one
    /// master (it keeps listing the lost connection meanwhile, and holds
    /// commands for every shard), so while it reconnects no shard counts
    /// as connected: nothing reaches any of them until it is back. Each
    /// says meanwhile whether it answers (see `cluster::failover`).
    fn shards(&self) -> Vec<ShardStatus> {
        let Some(routing) = self
            .client
            .cached_cluster_state()
            .filter(|_| self.keys().sharded())
        else {
            return Vec::new();
        };
        let publishing = self.client.active_connections();
        let subscribing = self.subscriber.active_connections();
        let mut shards: Vec<ShardStatus> = routing
            .unique_primary_nodes()
            .into_iter()
            .map(|master| {
                let connected = self.metrics().is_connected()
                    && publishing.contains(&master)
                    && subscribing.contains(&master);
                let master = master.to_string();
                ShardStatus {
                    connected,
                    answers: connected || self.masters.answers(&master),
                    master,
                }
            })
            .collect();
        shards.sort_by(|a, b| a.master.cmp(&b.master));
        shards
    }

    /// Whether answers should come from Redis (else: local-only fallback).
    fn cluster_view(&self) -> bool {
        self.metrics().snapshot().connected
    }
}

impl Directory for ClusterBus {
    fn room_counts(&self) -> DirectoryFuture<'_, Vec<(String, usize)>> {
        Box::pin(async move {
            if self.cluster_view() {
                if let Ok(records) = self.records().await {
                    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
                    for room in records.into_iter().flat_map(|r| r.rooms) {
                        *counts.entry(room).or_default() += 1;
                    }
                    return counts.into_iter().collect();
                }
            }
            self.local()
                .rooms()
                .into_iter()
                .map(|(r, n)| (r.to_string(), n))
                .collect()
        })
    }

    fn room_members<'a>(&'a self, room: &'a str) -> DirectoryFuture<'a, Vec<Sid>> {
        Box::pin(async move {
            if self.cluster_view() {
                if let Ok(records) = self.records().await {
                    let mut sids: Vec<Sid> = records
                        .iter()
                        .filter(|r| r.rooms.iter().any(|member_of| member_of == room))
                        .filter_map(|r| r.sid.parse().ok())
                        .collect();
                    sids.sort();
                    return sids;
                }
            }
            self.local().members(room)
        })
    }

    fn cluster_status(&self) -> Option<ClusterStatus> {
        let metrics = self.metrics().snapshot();
        Some(ClusterStatus {
            node: self.node_id().to_owned(),
            connected: metrics.connected,
            state: match (metrics.connected, metrics.failing_over) {
                (true, _) => "connected",
                (false, true) => "failing_over",
                (false, false) => "disconnected",
            },
            sent: metrics.sent,
            received: metrics.received,
            send_failures: metrics.send_failures,
            reconnects: metrics.reconnects,
            topology: match self.keys().sharded() {
                true => "cluster",
                false => "single",
            },
            shards: self.shards(),
        })
    }

    fn find_connection(&self, sid: Sid) -> DirectoryFuture<'_, Option<ConnRecord>> {
        Box::pin(async move {
            if let Some(snapshot) = self.local().connection(sid) {
                let mut record = ConnRecord::from(&snapshot);
                record.node = Some(self.node_id().to_owned());
                return Some(record);
            }
            if !self.cluster_view() {
                return None;
            }
            let client = self.client();
            let keys = self.keys();
            let nodes: Vec<String> = client.smembers(keys.nodes()).await.ok()?;
            for node in nodes {
                let value: Option<String> = client.hget(keys.conns(&node), sid.to_string()).await.ok()?;
                let alive: bool = client.exists(keys.alive(&node)).await.unwrap_or(false);
                if let (Some(value), true) = (value, alive) {
                    // Remembered, so that what the API sends it next goes
                    // to its node's channel only.
                    self.locate(sid, &node);
                    return serde_json::from_str(&value).ok();
                }
            }
            None
        })
    }
}
