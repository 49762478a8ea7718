//! Catching up a recoverable room that this node stopped hearing for a
//! while (a shard failing over, a slot moving, a reconnect): Redis keeps
//! the room's numbered events in its stream, so a hole in the offsets this
//! node delivered is read back from there and delivered first, in order.
//! Live members of recoverable rooms then miss nothing, whether or not
//! their own connection dropped.
//!
//! The hole shows when the room's next numbered event arrives; it is read
//! in the receive loop, so that event and every later one wait for it and
//! the room's order holds. What Redis no longer has (trimmed to
//! `rooms.history_size`, or the read failed within `cluster.timeout`) is
//! counted as lost.

use sockgate_core::Position;
use tracing::{info, warn};

use super::ClusterBus;
use crate::message::ClusterMessage;
use crate::recovery::resume::read_messages_after;

impl ClusterBus {
    /// Applies a message Redis numbered, after the room's events before it
    /// that never reached this node.
    pub(super) async fn apply_numbered(&self, message: ClusterMessage) {
        if let Some((room, from, next)) = self.hole_before(&message) {
            self.catch_up(&room, &from, &next).await;
        }
        self.apply(message);
    }

    /// The room, the last position this node delivered and `message`'s,
    /// when offsets in between are missing here.
    fn hole_before(&self, message: &ClusterMessage) -> Option<(String, Position, Position)> {
        let position = message.position.as_ref()?;
        let [room] = message.rooms.as_slice() else {
            return None;
        };
        let next = Position {
            epoch: position.epoch.as_str().into(),
            offset: position.offset,
        };
        let from = self.local.missing_before(room, &next)?;
        Some((room.clone(), from, next))
    }

    /// Reads the events after `from` and before `next` from Redis and
    /// applies them in order; counts what could not be read as lost.
    async fn catch_up(&self, room: &str, from: &Position, next: &Position) {
        let missing = next.offset - from.offset - 1;
        let kept = self.local.history_limits().map_or(0, |limits| limits.size);
        let count = usize::try_from(missing).unwrap_or(usize::MAX).min(kept);
        let read = tokio::time::timeout(
            self.timeout,
            read_messages_after(&self.client, &self.keys, room, from, count),
        )
        .await;
        let mut caught_up = 0;
        match read {
            Ok(Ok(Some((epoch, messages)))) if *epoch == *next.epoch => {
                for message in messages {
                    if message.position.as_ref().is_some_and(|p| p.offset < next.offset) {
                        caught_up += 1;
                        self.apply(message);
                    }
                }
            }
            // A new epoch since: the stream this node had is gone anyway.
            Ok(Ok(_)) => {}
            Ok(Err(error)) => warn!(%error, room, "reading a room's missed events from Redis failed"),
            Err(_) => warn!(
                room,
                "reading a room's missed events from Redis timed out (cluster.timeout)"
            ),
        }
        self.metrics.caught_up(caught_up);
        let lost = missing.saturating_sub(caught_up);
        if lost > 0 {
            self.metrics.lost(lost);
            warn!(
                room,
                lost, "events of a recoverable room never reached this node (counted in sockgate_cluster_lost_total)"
            );
        } else {
            info!(
                room,
                caught_up, "caught up with a recoverable room's events from Redis"
            );
        }
    }
}
