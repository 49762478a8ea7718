//! Telling a shard that fails over from Redis gone.
//!
//! fred's clustered client reconnects as a whole when it loses one master:
//! it holds commands for every shard and counts as disconnected until it
//! has the new topology (about 6.5 s after a SIGKILL with
//! `cluster-node-timeout` 2 s). Taken at its word, every node would report
//! not ready at once for one shard's failover, and number recoverable
//! rooms on its own (clients resuming across it would get
//! `epoch_changed`). So while the client is disconnected from a Redis
//! Cluster, this task probes the masters it last knew (a TCP connect
//! each): when some still answer, one shard is failing over — the node
//! stays ready and keeps numbering in Redis, whose client holds the
//! scripts until the promoted replica takes them; when none answers,
//! Redis is gone, as on one Redis.

use std::collections::BTreeSet;
use std::sync::{Mutex, Weak};
use std::time::Duration;

use fred::prelude::*;
use tracing::{info, warn};

use super::ClusterBus;

/// How long a master has to accept a probe's connection.
const PROBE_TIMEOUT: Duration = Duration::from_millis(300);

/// The masters of a Redis Cluster as last learned, and which of them
/// answered the last probe.
#[derive(Debug, Default)]
pub(crate) struct Masters {
    state: Mutex<MastersState>,
}

#[derive(Debug, Default)]
struct MastersState {
    /// `host:port` of each master the client last knew while connected.
    known: BTreeSet<String>,
    /// Those that accepted a connection at the last probe.
    answering: BTreeSet<String>,
}

impl Masters {
    /// Whether `master` answered the last probe (every known master
    /// counts as answering while the client is connected).
    pub(crate) fn answers(&self, master: &str) -> bool {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.answering.contains(master)
    }

    fn set_known(&self, known: BTreeSet<String>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.answering.clone_from(&known);
        state.known = known;
    }

    fn known(&self) -> Vec<String> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.known.iter().cloned().collect()
    }

    fn set_answering(&self, answering: BTreeSet<String>) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).answering = answering;
    }
}

/// Every `every`: while connected, remembers the masters; while not,
/// probes them and says whether one shard is failing over. Returns at
/// once on one Redis.
pub(super) async fn watch_masters(weak: Weak<ClusterBus>, client: Client, every: Duration) {
    if !weak.upgrade().is_some_and(|bus| bus.keys.sharded()) {
        return;
    }
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(bus) = weak.upgrade() else { return };
        if bus.metrics.is_connected() && client.is_connected() {
            if let Some(routing) = client.cached_cluster_state() {
                let known = routing
                    .unique_primary_nodes()
                    .into_iter()
                    .map(|master| master.to_string())
                    .collect();
                bus.masters.set_known(known);
            }
            if bus.metrics.is_failing_over() {
                info!("the Redis Cluster's failover is over");
                bus.metrics.set_failing_over(false);
            }
            continue;
        }
        let known = bus.masters.known();
        drop(bus);
        let probes = known.iter().map(|master| async move {
            let answered =
                tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(master.as_str()))
                    .await
                    .is_ok_and(|connected| connected.is_ok());
            answered.then(|| master.clone())
        });
        let answering: BTreeSet<String> = futures_util::future::join_all(probes)
            .await
            .into_iter()
            .flatten()
            .collect();
        let Some(bus) = weak.upgrade() else { return };
        // Reconnected while probing: the next tick says so.
        if bus.metrics.is_connected() {
            continue;
        }
        let failing_over = !answering.is_empty();
        if failing_over != bus.metrics.is_failing_over() {
            match failing_over {
                true => warn!(
                    answering = answering.len(),
                    of = known.len(),
                    "a Redis Cluster shard is failing over: serving on, numbering in Redis as soon as the client is back"
                ),
                false => warn!("no master of the Redis Cluster answers: Redis is gone"),
            }
        }
        bus.masters.set_answering(answering);
        bus.metrics.set_failing_over(failing_over);
    }
}
