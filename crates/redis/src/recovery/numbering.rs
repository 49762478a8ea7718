//! Numbering in Redis: one script takes a room's epoch (creating it when
//! missing, which is how lost data shows as a new epoch), counts the
//! offset, appends the event to the room's stream and publishes it with
//! its position. Redis runs scripts one at a time, so every node gets a
//! room's events in one order with one numbering; each node keeps a copy
//! of what it delivered (`Numbering::At` in the local bus).

use std::sync::LazyLock;

use fred::prelude::*;
use sockgate_bus::HistoryLimits;
use sockgate_core::{Args, Sid};

use crate::cluster::ClusterBus;
use crate::keys::Keys;
use crate::message::{ClusterMessage, Op};
use crate::sender::Outgoing;

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

/// The same on a Redis Cluster: sharded channels. Each call names one
/// room's keys and channel, which share its hash slot.
static NUMBER_AND_SPUBLISH: LazyLock<String> =
    LazyLock::new(|| NUMBER_AND_PUBLISH.replace("'PUBLISH'", "'SPUBLISH'"));

/// Numbering events failed: how many were lost, and the last error.
#[derive(Debug)]
pub(crate) struct NumberingFailed {
    pub(crate) lost: usize,
    pub(crate) error: Error,
}

/// Numbers `events` (emits to recoverable rooms: room, message JSON) in
/// Redis and publishes them on their rooms' channels, in order per room.
/// One Redis: one round trip for the lot. A Redis Cluster: one script per
/// room (a script may only touch one slot), the rooms side by side.
pub(crate) async fn number_and_publish(
    client: &Client,
    keys: &Keys,
    limits: HistoryLimits,
    events: &[(String, String)],
) -> Result<(), NumberingFailed> {
    if !keys.sharded() {
        let all: Vec<&(String, String)> = events.iter().collect();
        return run_script(client, keys, limits, &all, NUMBER_AND_PUBLISH)
            .await
            .map_err(|error| NumberingFailed {
                lost: events.len(),
                error,
            });
    }
    let mut rooms: Vec<(&str, Vec<&(String, String)>)> = Vec::new();
    for event in events {
        match rooms.iter_mut().find(|(room, _)| *room == event.0) {
            Some((_, group)) => group.push(event),
            None => rooms.push((&event.0, vec![event])),
        }
    }
    let runs = rooms.iter().map(|(_, group)| async move {
        run_script(client, keys, limits, group, &NUMBER_AND_SPUBLISH)
            .await
            .map_err(|error| (group.len(), error))
    });
    let mut failed: Option<NumberingFailed> = None;
    for outcome in futures_util::future::join_all(runs).await {
        if let Err((lost, error)) = outcome {
            let lost = lost + failed.as_ref().map_or(0, |f| f.lost);
            failed = Some(NumberingFailed { lost, error });
        }
    }
    failed.map_or(Ok(()), Err)
}

/// Runs the numbering script once over `events`.
async fn run_script(
    client: &Client,
    keys: &Keys,
    limits: HistoryLimits,
    events: &[&(String, String)],
    script: &str,
) -> Result<(), Error> {
    let ttl_ms = u64::try_from(limits.ttl.as_millis()).unwrap_or(u64::MAX).max(1);
    let (mut script_keys, mut args) = (Vec::new(), Vec::new());
    for (room, message) in events.iter().copied() {
        let [events, offset, epoch] = keys.history(room);
        script_keys.extend([events, offset, epoch, keys.room_channel(room).name]);
        let fresh_epoch = sockgate_core::new_resume_token()[..8].to_owned();
        args.extend([
            fresh_epoch,
            limits.size.to_string(),
            ttl_ms.to_string(),
            message.clone(),
        ]);
    }
    let _: i64 = client.eval(script, script_keys, args).await?;
    Ok(())
}

impl ClusterBus {
    /// Whether emits to `room` are numbered in Redis: it keeps a history
    /// and Redis is reachable, or only one shard of a Redis Cluster is
    /// failing over (the client holds the script until the promoted
    /// replica takes it, for up to `cluster.timeout`). Without Redis, this
    /// node numbers them itself, in an epoch of its own.
    pub(crate) fn sequences(&self, room: &str) -> bool {
        self.local.recovers_room(room) && (self.metrics.is_connected() || self.metrics.is_failing_over())
    }

    /// Queues an emit to a recoverable room for numbering in Redis; every
    /// node with members, this one included, delivers it when Redis
    /// publishes it back with its position.
    /// Members of `besides` get another copy of the same emit.
    pub(crate) fn sequence(&self, room: &str, except: &[Sid], besides: &[String], event: &str, args: &Args) {
        let mut message = ClusterMessage::new(self.keys.node(), Op::Emit);
        message.rooms = vec![room.to_owned()];
        message.except = except.iter().map(ToString::to_string).collect();
        message.besides = besides.to_vec();
        message.event = Some(event.to_owned());
        message.set_args(args);
        // Its offset in the room's stream numbers it: receivers read holes
        // back from Redis (`cluster::catch_up`).
        match serde_json::to_string(&message) {
            Ok(payload) => self.queue(Outgoing::Sequence {
                room: room.to_owned(),
                payload,
            }),
            Err(_) => self.metrics.send_failed(),
        }
    }
}
