//! Departed sessions in Redis: the rooms of a connection that went away,
//! kept under its resume token for `rooms.history_ttl`, so that it can
//! resume on any node.

use fred::prelude::*;
use serde::{Deserialize, Serialize};
use sockgate_core::{DepartedSession, Position, Recovery, RoomName, RoomPolicy};
use tracing::debug;

use crate::cluster::ClusterBus;
use crate::keys::Keys;

/// A departed connection's rooms as Redis keeps them.
#[derive(Serialize, Deserialize)]
struct StoredSession {
    user: Option<String>,
    rooms: Vec<String>,
    /// Room, epoch, offset.
    #[serde(default)]
    positions: Vec<(String, String, u64)>,
    /// Room, epoch, offset of the recoverable events it was sent last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    trail: Vec<(String, String, u64)>,
}

/// Keeps a departed connection's rooms under its token for `ttl`, with
/// `client` or queued on a pipeline.
pub(crate) async fn keep_departed<C: KeysInterface + Sync>(
    client: &C,
    keys: &Keys,
    token: &str,
    session: &DepartedSession,
    ttl: std::time::Duration,
) -> Result<(), Error> {
    let stored = StoredSession {
        user: session.user.clone(),
        rooms: session.rooms.iter().map(ToString::to_string).collect(),
        positions: stored_positions(&session.positions),
        trail: stored_positions(&session.trail),
    };
    let json = serde_json::to_string(&stored).unwrap_or_default();
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1);
    client
        .set::<(), _, _>(
            keys.departed(token),
            json,
            Some(Expiration::PX(ttl_ms)),
            None,
            false,
        )
        .await
}

/// Takes the departed connection under `token` (once), if it was `user`'s.
async fn take_departed(
    client: &Client,
    keys: &Keys,
    policy: &RoomPolicy,
    token: &str,
    user: Option<&str>,
) -> Result<Option<DepartedSession>, Error> {
    let stored: Option<String> = client.getdel(keys.departed(token)).await?;
    let Some(stored) = stored.and_then(|s| serde_json::from_str::<StoredSession>(&s).ok()) else {
        return Ok(None);
    };
    if stored.user.as_deref() != user {
        return Ok(None);
    }
    Ok(Some(DepartedSession {
        user: stored.user,
        rooms: stored
            .rooms
            .iter()
            .filter_map(|room| policy.name(room).ok())
            .collect(),
        positions: read_positions(policy, stored.positions),
        trail: read_positions(policy, stored.trail),
    }))
}

/// Positions as Redis keeps them: (room, epoch, offset).
fn stored_positions(positions: &[(RoomName, Position)]) -> Vec<(String, String, u64)> {
    positions
        .iter()
        .map(|(room, p)| (room.to_string(), p.epoch.to_string(), p.offset))
        .collect()
}

/// Positions read back, dropping rooms the policy no longer names.
fn read_positions(policy: &RoomPolicy, stored: Vec<(String, String, u64)>) -> Vec<(RoomName, Position)> {
    stored
        .into_iter()
        .filter_map(|(room, epoch, offset)| {
            let position = Position {
                epoch: epoch.into(),
                offset,
            };
            Some((policy.name(&room).ok()?, position))
        })
        .collect()
}

impl ClusterBus {
    /// A departed session, from this node or from Redis (taken once).
    pub(crate) async fn take_shared_departed(
        &self,
        token: &str,
        user: Option<&str>,
    ) -> Option<DepartedSession> {
        if let Some(session) = self.local.take_departed(token, user).await {
            // Taken here: not to be taken again elsewhere.
            let _: std::result::Result<i64, Error> = self.client.del(self.keys.departed(token)).await;
            return Some(session);
        }
        match take_departed(&self.client, &self.keys, self.local.policy(), token, user).await {
            Ok(session) => session,
            Err(error) => {
                debug!(%error, "reading a departed session from Redis failed");
                None
            }
        }
    }
}
