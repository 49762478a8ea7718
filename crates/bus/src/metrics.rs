//! Counters the bus keeps about its own work.

use std::sync::atomic::{AtomicU64, Ordering};

/// Lock-free counters updated on the delivery path.
#[derive(Debug, Default)]
pub struct Metrics {
    publishes: AtomicU64,
    direct_deliveries: AtomicU64,
    group_broadcasts: AtomicU64,
    slow_consumers: AtomicU64,
}

/// A point-in-time copy of [`Metrics`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Events accepted for publishing.
    pub publishes: u64,
    /// Envelopes queued to individual (raw WebSocket) connections.
    pub direct_deliveries: u64,
    /// Encode-once broadcasts handed to group outlets (socket.io namespaces).
    pub group_broadcasts: u64,
    /// Connections disconnected because their outbound queue was full.
    pub slow_consumers: u64,
}

impl Metrics {
    pub(crate) fn published(&self, direct: u64, groups: u64, slow: u64) {
        self.publishes.fetch_add(1, Ordering::Relaxed);
        self.direct_deliveries.fetch_add(direct, Ordering::Relaxed);
        self.group_broadcasts.fetch_add(groups, Ordering::Relaxed);
        if slow > 0 {
            self.slow_consumers.fetch_add(slow, Ordering::Relaxed);
        }
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            publishes: self.publishes.load(Ordering::Relaxed),
            direct_deliveries: self.direct_deliveries.load(Ordering::Relaxed),
            group_broadcasts: self.group_broadcasts.load(Ordering::Relaxed),
            slow_consumers: self.slow_consumers.load(Ordering::Relaxed),
        }
    }
}
