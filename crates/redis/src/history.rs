//! Recoverable rooms' histories in Redis, so that a client can resume on
//! any node (`docs/recovery.md`).
//!
//! Redis numbers the events: one script takes the room's epoch (creating
//! it when missing, which is how lost data shows as a new epoch), counts
//! the offset, appends the event to the room's stream and publishes it
//! with its position. Redis runs scripts one at a time, so every node gets
//! a room's events in one order with one numbering; each node keeps a copy
//! of what it delivered (`LocalBus::deliver_at`), and reads the stream only
//! when that copy cannot serve a resume.

use std::sync::Arc;

use fred::prelude::*;
use fred::types::Value;
use serde::{Deserialize, Serialize};
use sockgate_bus::{FetchedHistory, HistoryEvent, HistoryLimits};
use sockgate_core::{DepartedSession, Position, RoomPolicy};

use crate::directory::Keys;
use crate::message::ClusterMessage;

/// Numbers events and publishes them, in order, in one round trip. Per
/// event, four KEYS (events stream, offset counter, epoch, room channel)
/// and four ARGV (a fresh epoch, history size, ttl in ms, the message JSON,
/// an object whose position is added at its end).
const NUMBER_AND_PUBLISH: &str = r#"
for i = 0, #KEYS / 4 - 1 do
  local k = i * 4
  local epoch = redis.call('GET', KEYS[k + 3])
  if not epoch then
    epoch = ARGV[k + 1]
    redis.call('SET', KEYS[k + 3], epoch)
    redis.call('DEL', KEYS[k + 1], KEYS[k + 2])
  end
  local offset = redis.call('INCR', KEYS[k + 2])
  local message = string.sub(ARGV[k + 4], 1, -2) .. ',"position":{"epoch":"' .. epoch .. '","offset":' .. offset .. '}}'
  redis.call('XADD', KEYS[k + 1], 'MAXLEN', '~', ARGV[k + 2], '0-' .. offset, 'm', message)
  for j = 1, 3 do redis.call('PEXPIRE', KEYS[k + j], ARGV[k + 3]) end
  redis.call('PUBLISH', KEYS[k + 4], message)
end
return #KEYS / 4
"#;

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

/// Numbers `events` (emits to recoverable rooms: room, message JSON) in
/// Redis and publishes them on their rooms' channels, in order, with one
/// round trip for the lot.
pub(crate) async fn number_and_publish(
    client: &Client,
    keys: &Keys,
    limits: HistoryLimits,
    events: &[(String, String)],
) -> Result<(), Error> {
    let ttl_ms = u64::try_from(limits.ttl.as_millis()).unwrap_or(u64::MAX).max(1);
    let (mut script_keys, mut args) = (Vec::new(), Vec::new());
    for (room, message) in events {
        let [events, offset, epoch] = keys.history(room);
        script_keys.extend([events, offset, epoch, keys.room_channel(room)]);
        let fresh_epoch = sockgate_core::new_resume_token()[..8].to_owned();
        args.extend([
            fresh_epoch,
            limits.size.to_string(),
            ttl_ms.to_string(),
            message.clone(),
        ]);
    }
    let _: i64 = client.eval(NUMBER_AND_PUBLISH, script_keys, args).await?;
    Ok(())
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
    let [events, _, epoch] = keys.history(room);
    let first = format!("0-{}", from.offset.saturating_add(1));
    let count = max.saturating_add(1).to_string();
    let reply: Vec<Value> = client.eval(READ, vec![events, epoch], vec![first, count]).await?;
    let mut values = reply.into_iter();
    let Some(epoch) = values.next().and_then(|v| v.as_string()) else {
        return Ok(None);
    };
    let events = values
        .filter_map(|value| value.as_string())
        .filter_map(|text| serde_json::from_str::<ClusterMessage>(&text).ok())
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

/// A departed connection's rooms as Redis keeps them.
#[derive(Serialize, Deserialize)]
struct StoredSession {
    user: Option<String>,
    rooms: Vec<String>,
    /// Room, epoch, offset.
    #[serde(default)]
    positions: Vec<(String, String, u64)>,
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
        positions: session
            .positions
            .iter()
            .map(|(room, p)| (room.to_string(), p.epoch.to_string(), p.offset))
            .collect(),
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
pub(crate) async fn take_departed(
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
        positions: stored
            .positions
            .into_iter()
            .filter_map(|(room, epoch, offset)| {
                let position = Position {
                    epoch: epoch.into(),
                    offset,
                };
                Some((policy.name(&room).ok()?, position))
            })
            .collect(),
    }))
}
