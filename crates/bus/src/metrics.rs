//! Counters the bus keeps about its own work.

use std::sync::atomic::{AtomicU64, Ordering};

/// Lock-free counters updated on the delivery path.
#[derive(Debug, Default)]
pub struct Metrics {
    publishes: AtomicU64,
    direct_deliveries: AtomicU64,
    group_broadcasts: AtomicU64,
    slow_consumers: AtomicU64,
    /// Resumed rooms by outcome: replayed, too_old, epoch_changed, not_recoverable.
    resumes: [AtomicU64; 4],
    replayed_events: AtomicU64,
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
    /// Rooms resumed by outcome: replayed (possibly nothing), `too_old`,
    /// `epoch_changed`, `not_recoverable`.
    pub resumes: [u64; 4],
    /// Missed events queued by resumes.
    pub replayed_events: u64,
}

/// The outcomes [`MetricsSnapshot::resumes`] counts, in its order.
pub const RESUME_OUTCOMES: [&str; 4] = ["replayed", "too_old", "epoch_changed", "not_recoverable"];

impl Metrics {
    pub(crate) fn published(&self, direct: u64, groups: u64, slow: u64) {
        self.publishes.fetch_add(1, Ordering::Relaxed);
        self.direct_deliveries.fetch_add(direct, Ordering::Relaxed);
        self.group_broadcasts.fetch_add(groups, Ordering::Relaxed);
        if slow > 0 {
            self.slow_consumers.fetch_add(slow, Ordering::Relaxed);
        }
    }

    /// Counts one room's resume.
    pub(crate) fn resumed(&self, outcome: sockgate_core::Resumed) {
        use sockgate_core::{GapReason, Resumed};
        let slot = match outcome {
            Resumed::Replayed(events) => {
                self.replayed_events.fetch_add(events as u64, Ordering::Relaxed);
                0
            }
            Resumed::Gap(GapReason::TooOld) => 1,
            Resumed::Gap(GapReason::EpochChanged) => 2,
            Resumed::Gap(GapReason::NotRecoverable) => 3,
        };
        self.resumes[slot].fetch_add(1, Ordering::Relaxed);
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            publishes: self.publishes.load(Ordering::Relaxed),
            direct_deliveries: self.direct_deliveries.load(Ordering::Relaxed),
            group_broadcasts: self.group_broadcasts.load(Ordering::Relaxed),
            slow_consumers: self.slow_consumers.load(Ordering::Relaxed),
            resumes: std::array::from_fn(|i| self.resumes[i].load(Ordering::Relaxed)),
            replayed_events: self.replayed_events.load(Ordering::Relaxed),
        }
    }
}
