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

use crate::cluster::gaps::Seq;
use crate::cluster::ClusterBus;
use crate::keys::Keys;
use crate::message::{ClusterMessage, Op};
use crate::sender::Outgoing;

/// Numbers events and publishes them, in order, in one round trip. Per
/// event, five KEYS (events stream, offset counter, epoch, room channel,
/// the room's numbered senders) and seven ARGV (a fresh epoch, history
/// size, ttl in ms, the message JSON — an object whose position is added
/// at its end —, the sending node, its generation and the message's number
/// there). A message whose number the room has seen from its node already
/// is the same one sent twice (the client resent it after a connection
/// loss, or a retry after a slot migration): it is not numbered again.
const NUMBER_AND_PUBLISH: &str = r#"
for i = 0, #KEYS / 5 - 1 do
  local k, a = i * 5, i * 7
  local seen = redis.call('HGET', KEYS[k + 5], ARGV[a + 5])
  local again = false
  if seen then
    local generation, n = string.match(seen, '^(%d+):(%d+)$')
    again = generation == ARGV[a + 6] and tonumber(n) >= tonumber(ARGV[a + 7])
  end
  if not again then
    local epoch = redis.call('GET', KEYS[k + 3])
    if not epoch then
      epoch = ARGV[a + 1]
      redis.call('SET', KEYS[k + 3], epoch)
      redis.call('DEL', KEYS[k + 1], KEYS[k + 2])
    end
    local offset = redis.call('INCR', KEYS[k + 2])
    local message = string.sub(ARGV[a + 4], 1, -2) .. ',"position":{"epoch":"' .. epoch .. '","offset":' .. offset .. '}}'
    redis.call('XADD', KEYS[k + 1], 'MAXLEN', '~', ARGV[a + 2], '0-' .. offset, 'm', message)
    redis.call('HSET', KEYS[k + 5], ARGV[a + 5], ARGV[a + 6] .. ':' .. ARGV[a + 7])
    for j = 1, 3 do redis.call('PEXPIRE', KEYS[k + j], ARGV[a + 3]) end
    redis.call('PEXPIRE', KEYS[k + 5], ARGV[a + 3])
    redis.call('PUBLISH', KEYS[k + 4], message)
  end
end
return #KEYS / 5
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

/// An emit to a recoverable room, waiting to be numbered in Redis.
#[derive(Debug)]
pub(crate) struct ToNumber {
    pub(crate) room: String,
    /// The cluster message, as JSON.
    pub(crate) message: String,
    /// Its number among this node's numbered messages to the room.
    pub(crate) seq: Seq,
}

/// Numbers `events` in Redis and publishes them on their rooms' channels,
/// in order per room.
/// One Redis: one round trip for the lot. A Redis Cluster: one script per
/// room (a script may only touch one slot), the rooms side by side.
pub(crate) async fn number_and_publish(
    client: &Client,
    keys: &Keys,
    limits: HistoryLimits,
    events: &[ToNumber],
) -> Result<(), NumberingFailed> {
    if !keys.sharded() {
        let all: Vec<&ToNumber> = events.iter().collect();
        return run_script(client, keys, limits, &all, NUMBER_AND_PUBLISH)
            .await
            .map_err(|error| NumberingFailed {
                lost: events.len(),
                error,
            });
    }
    let mut rooms: Vec<(&str, Vec<&ToNumber>)> = Vec::new();
    for event in events {
        match rooms.iter_mut().find(|(room, _)| *room == event.room) {
            Some((_, group)) => group.push(event),
            None => rooms.push((&event.room, vec![event])),
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
    events: &[&ToNumber],
    script: &str,
) -> Result<(), Error> {
    let ttl_ms = u64::try_from(limits.ttl.as_millis()).unwrap_or(u64::MAX).max(1);
    let (mut script_keys, mut args) = (Vec::new(), Vec::new());
    for event in events.iter().copied() {
        let room = event.room.as_str();
        let [events, offset, epoch] = keys.history(room);
        script_keys.extend([
            events,
            offset,
            epoch,
            keys.room_channel(room).name,
            keys.numbered_senders(room),
        ]);
        let fresh_epoch = sockgate_core::new_resume_token()[..8].to_owned();
        args.extend([
            fresh_epoch,
            limits.size.to_string(),
            ttl_ms.to_string(),
            event.message.clone(),
            keys.node().to_owned(),
            event.seq[0].to_string(),
            event.seq[1].to_string(),
        ]);
    }
    let mut attempt = 0;
    loop {
        let outcome = tokio::time::timeout(
            ATTEMPT_TIMEOUT,
            client.eval::<i64, _, _, _>(script, script_keys.clone(), args.clone()),
        )
        .await;
        match outcome {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(error)) if attempt < RETRIES && refused_while_migrating(&error) => {}
            // Lost by the client while the cluster's topology changed (seen
            // while a slot migrates): sent again. Had it run after all, the
            // script numbers it once.
            Err(_) if attempt < RETRIES => {}
            Ok(Err(error)) => return Err(error),
            Err(_) => {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    "the numbering script went unanswered",
                ))
            }
        }
        attempt += 1;
        tokio::time::sleep(RETRY_DELAY * attempt).await;
    }
}

/// How often a numbering script that Redis refused during a slot
/// migration, or that went unanswered, is tried again, the delay before
/// the first retry (growing by as much each time), and how long one
/// attempt may take: a script answers in about a millisecond, and a shard
/// failing over holds it until its replica takes over (seconds).
const RETRIES: u32 = 8;
const RETRY_DELAY: std::time::Duration = std::time::Duration::from_millis(50);
const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Whether Redis refused the script, without running it, because its
/// room's slot is being migrated: `TRYAGAIN` (some of the room's keys
/// moved already), or the client's redirections ran out while the slot
/// changed hands.
fn refused_while_migrating(error: &Error) -> bool {
    let text = error.details();
    *error.kind() == ErrorKind::Routing
        || text.starts_with("TRYAGAIN")
        || text.contains("TRYAGAIN ")
        || text.contains("Too many failed write attempts")
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
        // Its offset in the room's stream numbers it for receivers, who
        // read holes back from Redis (`cluster::catch_up`); this number
        // lets Redis number it once if it is sent twice.
        let channel = self.keys.room_channel(room).name;
        let seq = self.outbound.next(&format!("{channel}#numbered"));
        match serde_json::to_string(&message) {
            Ok(message) => self.queue(Outgoing::Sequence(ToNumber {
                room: room.to_owned(),
                message,
                seq,
            })),
            Err(_) => self.metrics.send_failed(),
        }
    }
}
