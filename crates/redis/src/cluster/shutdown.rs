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
    /// Returns false when `bound` passed first; what was left unsent is
    /// logged. Anything queued after this call is dropped and counted as a
    /// send failure.
    pub async fn leave_cluster(&self, bound: Duration) -> bool {
        let deadline = Instant::now() + bound;
        let sender = self.sender.lock().unwrap_or_else(|p| p.into_inner()).take();
        let drained = match sender {
            Some(sender) => sender.drain(deadline, &self.outgoing).await,
            None => Ok(()),
        };
        if let Err(unsent) = drained {
            warn!(
                queued = unsent.queued,
                in_flight = unsent.in_flight,
                "server.shutdown_timeout passed before this node sent everything it had queued for \
                 the cluster: clients whose departed sessions were among it cannot resume on other nodes"
            );
        }
        let removed = tokio::time::timeout_at(deadline, self.remove_records())
            .await
            .is_ok();
        drained.is_ok() && removed
    }
}
