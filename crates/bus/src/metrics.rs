//! Counters the bus keeps about its own work.

use std::sync::atomic::{AtomicU64, Ordering};

/// Lock-free counters updated on the delivery path.
#[derive(Debug, Default)]
pub struct Metrics {
    publishes: AtomicU64,
    deliveries: AtomicU64,
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
    /// Envelopes queued to connections (of both protocols), one per receiver.
    pub deliveries: u64,
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
    pub(crate) fn published(&self, queued: u64, slow: u64) {
        self.publishes.fetch_add(1, Ordering::Relaxed);
        self.deliveries.fetch_add(queued, Ordering::Relaxed);
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
            deliveries: self.deliveries.load(Ordering::Relaxed),
            slow_consumers: self.slow_consumers.load(Ordering::Relaxed),
            resumes: std::array::from_fn(|i| self.resumes[i].load(Ordering::Relaxed)),
            replayed_events: self.replayed_events.load(Ordering::Relaxed),
        }
    }
}
