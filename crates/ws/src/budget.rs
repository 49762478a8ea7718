//! `limits.max_queued_bytes`: the memory all raw connections' outbound
//! queues may hold together.
//!
//! An event is encoded once into shared bytes, whatever the number of
//! queues it waits in, so it is charged once: when it is encoded, and given
//! back when the last queue has written it. Over the budget, connections
//! that have fallen well behind are closed as slow consumers, which frees
//! what they held; connections that keep up go on receiving everything.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// The shared budget; one per raw front.
#[derive(Debug)]
pub struct QueueBudget {
    limit: usize,
    used: AtomicUsize,
}

impl Default for QueueBudget {
    /// No limit.
    fn default() -> Self {
        QueueBudget {
            limit: usize::MAX,
            used: AtomicUsize::new(0),
        }
    }
}

impl QueueBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(QueueBudget {
            limit,
            used: AtomicUsize::new(0),
        })
    }

    /// Bytes of encoded events alive in outbound queues now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Whether the queues hold more than the budget.
    pub(crate) fn is_exceeded(&self) -> bool {
        self.used() > self.limit
    }

    /// Shares `frame` as bytes charged to this budget until every clone of
    /// them is dropped.
    pub(crate) fn charge(self: &Arc<Self>, frame: String) -> Utf8Bytes {
        self.used.fetch_add(frame.len(), Ordering::Relaxed);
        let owner = Charged {
            frame,
            budget: self.clone(),
        };
        Utf8Bytes::try_from(Bytes::from_owner(owner)).unwrap_or_else(|_| unreachable!("a String is UTF-8"))
    }
}

/// An encoded frame that gives its bytes back to the budget when dropped.
struct Charged {
    frame: String,
    budget: Arc<QueueBudget>,
}

impl AsRef<[u8]> for Charged {
    fn as_ref(&self) -> &[u8] {
        self.frame.as_bytes()
    }
}

impl Drop for Charged {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.frame.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_once_per_frame_and_releases_when_the_last_clone_drops() {
        let budget = QueueBudget::new(10);
        let frame = budget.charge("x".repeat(8));
        let clones: Vec<_> = (0..100).map(|_| frame.clone()).collect();
        assert_eq!(budget.used(), 8);
        assert!(!budget.is_exceeded());
        let other = budget.charge("yyy".into());
        assert!(budget.is_exceeded());
        drop(frame);
        drop(other);
        assert_eq!(budget.used(), 8, "clones still hold the first frame");
        drop(clones);
        assert_eq!(budget.used(), 0);
    }
}
