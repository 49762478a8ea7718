//! Resuming on any node: from this node's copy of a room's history when it
//! covers the gap, else from the stream Redis keeps, with the member's live
//! events held back meanwhile (by the local bus); and the bus's
//! [`Recovery`] face in a cluster.

use std::sync::Arc;

use fred::prelude::*;
use fred::types::Value;
use sockgate_bus::{Elsewhere, FetchedHistory, HistoryEvent};
use sockgate_core::{BusFuture, DepartedSession, Position, Recovery, Rejoined, Result, RoomName, Sid, Who};
use tracing::warn;

use crate::cluster::ClusterBus;
use crate::keys::Keys;
use crate::message::ClusterMessage;

/// Reads a room's epoch and its events from an offset on. KEYS: events
/// stream, epoch. ARGV: first stream id, most events. Returns the epoch
/// then each event's message, or nothing when the room has no history.
const READ: &str = r#"
local epoch = redis.call('GET', KEYS[2])
if not epoch then return {} end
local out = {epoch}
for _, entry in ipairs(redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', ARGV[2])) do
  table.insert(out, entry[2][2])
end
return out
"#;

/// The room's epoch in Redis and the messages of its history after
/// `from`, at most `count`, each as it was published; `None` when Redis
/// keeps no history for the room.
pub(crate) async fn read_messages_after(
    client: &Client,
    keys: &Keys,
    room: &str,
    from: &Position,
    count: usize,
) -> Result<Option<(String, Vec<ClusterMessage>)>, Error> {
    let [events, _, epoch] = keys.history(room);
    let first = format!("0-{}", from.offset.saturating_add(1));
    let reply: Vec<Value> = client
        .eval(READ, vec![events, epoch], vec![first, count.to_string()])
        .await?;
    let mut values = reply.into_iter();
    let Some(epoch) = values.next().and_then(|v| v.as_string()) else {
        return Ok(None);
    };
    let messages = values
        .filter_map(|value| value.as_string())
        .filter_map(|text| serde_json::from_str::<ClusterMessage>(&text).ok())
        .collect();
    Ok(Some((epoch, messages)))
}

/// The room's history after `from`, at most `max` events and one more (so
/// that too many shows), or `None` when Redis keeps none for the room.
pub(crate) async fn read_after(
    client: &Client,
    keys: &Keys,
    room: &str,
    from: &Position,
    max: usize,
) -> Result<Option<FetchedHistory>, Error> {
    let Some((epoch, messages)) =
        read_messages_after(client, keys, room, from, max.saturating_add(1)).await?
    else {
        return Ok(None);
    };
    let events = messages
        .into_iter()
        .filter_map(|mut message| {
            Some(HistoryEvent {
                offset: message.position.as_ref()?.offset,
                args: message.take_args(),
                event: message.event?,
            })
        })
        .collect();
    Ok(Some(FetchedHistory {
        epoch: Arc::from(epoch),
        events,
    }))
}

impl Recovery for ClusterBus {
    fn take_departed<'a>(
        &'a self,
        token: &'a str,
        user: Option<&'a str>,
    ) -> BusFuture<'a, Option<DepartedSession>> {
        Box::pin(self.take_shared_departed(token, user))
    }

    fn resume_room<'a>(
        &'a self,
        sid: Sid,
        room: &'a str,
        from: Option<&'a Position>,
        trusted: bool,
        max_events: usize,
    ) -> BusFuture<'a, Result<Rejoined>> {
        Box::pin(async move {
            // From Redis only when it numbers the room (it is reachable).
            let from_redis = self
                .sequences(room)
                .then_some(|name: RoomName, from: Position| async move {
                    self.after_membership(Who::Sid(sid));
                    // Live events must reach this node before the gap is read,
                    // or one published in between would be neither read nor heard.
                    self.hear_rooms(std::slice::from_ref(&name)).await;
                    match read_after(&self.client, &self.keys, name.as_str(), &from, max_events).await {
                        Ok(fetched) => fetched,
                        Err(error) => {
                            warn!(%error, room = name.as_str(), "reading a room's history from Redis failed");
                            None
                        }
                    }
                });
            // While Redis numbers the room, the gap is read there, never
            // from this node's copy of the room's history: the copy has
            // everything Redis numbered only while the node hears the room,
            // and that cannot be checked before the member is back in it (a
            // node whose last member left may be unsubscribing right then;
            // its copy ends where it stopped hearing, and a resume served
            // from it would replay nothing of what was published since).
            // `hear_rooms` after the rejoin, then the read, has no such gap.
            let copy_current = false;
            let elsewhere = from_redis.map(|fetch| Elsewhere { fetch, copy_current });
            let outcome = self
                .local
                .resume_room_with(sid, room, from, trusted, max_events, elsewhere)
                .await;
            self.after_membership(Who::Sid(sid));
            let outcome = outcome?;
            let heard = match self.local.policy().name(room) {
                Ok(name) => self.heard(vec![name]),
                Err(_) => sockgate_core::Heard::now(),
            };
            Ok(Rejoined { outcome, heard })
        })
    }

    fn max_replay(&self) -> usize {
        self.local.max_replay()
    }
}
