//! `/readyz`: whether this node should get new clients.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use sockgate_core::Directory;

/// Ready unless draining, or cut off from its cluster (but not while one
/// shard of a Redis Cluster fails over).
pub(crate) struct Readiness {
    draining: AtomicBool,
    directory: Arc<dyn Directory>,
}

impl Readiness {
    pub(crate) fn new(directory: Arc<dyn Directory>) -> Self {
        Readiness {
            draining: AtomicBool::new(false),
            directory,
        }
    }

    /// From now on the node reports not ready.
    pub(crate) fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// `Ok` when ready, else why not.
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        if self.draining.load(Ordering::Acquire) {
            return Err("draining: shutting down");
        }
        if let Some(status) = self.directory.cluster_status() {
            // One shard of a Redis Cluster failing over is not Redis
            // down: every node is in the same state, and each serves its
            // clients on; taking them all out would serve nobody.
            if !status.connected && status.state != "failing_over" {
                return Err("cluster bus disconnected from Redis");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sockgate_bus::{BusLimits, LocalBus};
    use sockgate_core::RoomPolicy;

    use super::*;

    #[test]
    fn a_draining_node_is_not_ready() {
        let directory = Arc::new(LocalBus::new(RoomPolicy::allow_all(8), BusLimits::default()));
        let readiness = Readiness::new(directory);
        assert_eq!(readiness.check(), Ok(()));
        readiness.start_draining();
        assert_eq!(readiness.check(), Err("draining: shutting down"));
    }
}
