//! Leaving the cluster at shutdown: what the node still has to tell Redis
//! goes out first, then its records are removed.

use std::time::Duration;

use tokio::time::Instant;
use tracing::warn;

use super::ClusterBus;

impl ClusterBus {
    /// Leaves the cluster (graceful shutdown), within `bound`. Call it once
    /// every connection is gone: the sender's queue is closed, what is
    /// queued is sent (among it the departed sessions of the connections
    /// the shutdown closed, which other nodes need to resume those
    /// clients), then this node's records are removed from the directory.
    ///
    /// Returns false when `bound` passed first, or Redis was or became
    /// unreachable (nothing would go out: the node stops waiting at once);
    /// what was left unsent is logged. Anything queued after this call is
    /// dropped and counted as a send failure.
    pub async fn leave_cluster(&self, bound: Duration) -> bool {
        let deadline = Instant::now() + bound;
        let give_up = async {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => {}
                () = self.redis_lost() => {}
            }
        };
        let sender = self.sender.lock().unwrap_or_else(|p| p.into_inner()).take();
        let drained = match sender {
            Some(sender) => sender.drain(give_up, &self.outgoing).await,
            None => Ok(()),
        };
        if let Err(unsent) = drained {
            warn!(
                queued = unsent.queued,
                in_flight = unsent.in_flight,
                redis_connected = self.metrics.is_connected(),
                "this node could not send everything it had queued for the cluster (Redis unreachable, \
                 or server.shutdown_timeout passed): clients whose departed sessions were among it \
                 cannot resume on other nodes"
            );
        }
        if !self.metrics.is_connected() {
            return false;
        }
        let removed = tokio::time::timeout_at(deadline, self.remove_records())
            .await
            .is_ok();
        drained.is_ok() && removed
    }

    /// Resolves once Redis is unreachable (at once if it is already).
    async fn redis_lost(&self) {
        while self.metrics.is_connected() {
            tokio::time::sleep(REDIS_CHECK).await;
        }
    }
}

/// How often a draining node checks whether Redis is still there.
const REDIS_CHECK: Duration = Duration::from_millis(50);
