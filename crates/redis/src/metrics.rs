//! Counters and state of the cluster bus.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::keys::ChannelKind;

/// Lock-free cluster counters.
#[derive(Debug, Default)]
pub struct ClusterMetrics {
    connected: AtomicBool,
    sent: AtomicU64,
    received: AtomicU64,
    send_failures: AtomicU64,
    reconnects: AtomicU64,
    subscription_timeouts: AtomicU64,
    published_room: AtomicU64,
    published_node: AtomicU64,
    published_broadcast: AtomicU64,
    failing_over: AtomicBool,
    lost: AtomicU64,
    caught_up: AtomicU64,
}

/// A copy of [`ClusterMetrics`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClusterSnapshot {
    /// Whether the node is connected to Redis now.
    pub connected: bool,
    /// Cluster messages published.
    pub sent: u64,
    /// Cluster messages received from other nodes (and emitters).
    pub received: u64,
    /// Messages that could not reach the cluster (queue full or Redis down).
    pub send_failures: u64,
    /// Times the node reconnected to Redis.
    pub reconnects: u64,
    /// Joins acked without their room's subscription confirmed, after
    /// waiting `cluster.timeout` (Redis slow or hung).
    pub subscription_timeouts: u64,
    /// Messages published on rooms' channels (one per room of an emit,
    /// numbered events included).
    pub published_room: u64,
    /// Messages published on one node's own channel (emits, joins, leaves
    /// and kicks for one of its connections).
    pub published_node: u64,
    /// Messages published on the broadcast channel, which every node hears.
    pub published_broadcast: u64,
    /// While disconnected from a Redis Cluster: some of its masters still
    /// answer, so one shard is failing over (not the whole cluster down).
    pub failing_over: bool,
    /// Messages other nodes published to rooms this node hears that never
    /// reached it: gaps in each sender's numbering of its messages to a
    /// room, seen at the sender's next message there; and events of
    /// recoverable rooms that Redis no longer had when this node caught up.
    pub lost: u64,
    /// Events of recoverable rooms this node missed (not subscribed where
    /// they were published) and read back from Redis's stream before
    /// delivering the next one.
    pub caught_up: u64,
}

impl ClusterMetrics {
    pub(crate) fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::Relaxed);
    }
    pub(crate) fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }
    /// One message published, on a channel of `kind`.
    pub(crate) fn sent(&self, kind: ChannelKind) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        let by_kind = match kind {
            ChannelKind::Room => &self.published_room,
            ChannelKind::Node => &self.published_node,
            ChannelKind::Broadcast => &self.published_broadcast,
        };
        by_kind.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn received(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn send_failed(&self) {
        self.send_failures.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn reconnected(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn set_failing_over(&self, failing_over: bool) {
        self.failing_over.store(failing_over, Ordering::Relaxed);
    }
    pub(crate) fn is_failing_over(&self) -> bool {
        self.failing_over.load(Ordering::Relaxed)
    }
    pub(crate) fn lost(&self, messages: u64) {
        self.lost.fetch_add(messages, Ordering::Relaxed);
    }
    pub(crate) fn caught_up(&self, events: u64) {
        self.caught_up.fetch_add(events, Ordering::Relaxed);
    }
    pub(crate) fn subscription_timed_out(&self) {
        self.subscription_timeouts.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> ClusterSnapshot {
        ClusterSnapshot {
            connected: self.connected.load(Ordering::Relaxed),
            sent: self.sent.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
            send_failures: self.send_failures.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            subscription_timeouts: self.subscription_timeouts.load(Ordering::Relaxed),
            published_room: self.published_room.load(Ordering::Relaxed),
            published_node: self.published_node.load(Ordering::Relaxed),
            published_broadcast: self.published_broadcast.load(Ordering::Relaxed),
            failing_over: self.failing_over.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
            caught_up: self.caught_up.load(Ordering::Relaxed),
        }
    }
}
