//! The cluster bus's sender task: what a node tells Redis, in order, and
//! never awaited on the delivery path. Runs of queued publishes go out as
//! one pipeline, and runs of emits to recoverable rooms as one numbering
//! script, so that a burst pays one round trip to Redis, not one per
//! message.

use std::sync::Arc;

use fred::prelude::*;
use sockgate_core::{Bus, RoomName, Sid};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::cluster::ClusterBus;
use crate::{directory, history};

/// Work for the sender task.
pub(crate) enum Outgoing {
    /// Publish a message on a channel.
    Publish { channel: String, payload: String },
    /// Write (or remove) one connection's directory record.
    Record(Sid),
    /// Number an emit to a recoverable room in Redis, and publish it.
    Sequence { room: String, payload: String },
    /// Keep a departed connection's rooms in Redis under its resume token.
    KeepDeparted(Arc<str>),
}

/// Most queued items the sender takes at once.
const SEND_BATCH: usize = 128;

/// Publishes queued messages and writes directory records, in order.
/// Runs of queued publishes go out as one pipeline, and runs of emits to
/// recoverable rooms as one numbering script, so that a burst pays one
/// round trip to Redis, not one per message.
pub(crate) async fn send_loop(bus: Arc<ClusterBus>, mut queue: mpsc::Receiver<Outgoing>) {
    let mut batch = Vec::with_capacity(SEND_BATCH);
    let mut published: Vec<(String, String)> = Vec::new();
    let mut numbered: Vec<(String, String)> = Vec::new();
    while queue.recv_many(&mut batch, SEND_BATCH).await > 0 {
        for item in batch.drain(..) {
            match item {
                Outgoing::Publish { channel, payload } => {
                    send_numbered(&bus, &mut numbered).await;
                    published.push((channel, payload));
                }
                Outgoing::Sequence { room, payload } => {
                    send_published(&bus, &mut published).await;
                    numbered.push((room, payload));
                }
                other => {
                    send_published(&bus, &mut published).await;
                    send_numbered(&bus, &mut numbered).await;
                    send_one(&bus, other).await;
                }
            }
        }
        send_published(&bus, &mut published).await;
        send_numbered(&bus, &mut numbered).await;
    }
}

/// Publishes the queued messages, in order, as one pipeline.
async fn send_published(bus: &ClusterBus, published: &mut Vec<(String, String)>) {
    if published.is_empty() {
        return;
    }
    let pipeline = bus.client().pipeline();
    for (channel, payload) in published.drain(..) {
        let queued: std::result::Result<(), Error> = pipeline.publish(channel, payload).await;
        if let Err(error) = queued {
            debug!(%error, "cluster publish could not be queued");
        }
    }
    for outcome in pipeline.try_all::<Value>().await {
        match outcome {
            Ok(_) => bus.metrics().sent(),
            Err(error) => {
                bus.metrics().send_failed();
                debug!(%error, "cluster publish failed");
            }
        }
    }
}

/// Numbers and publishes the queued emits to recoverable rooms.
async fn send_numbered(bus: &ClusterBus, numbered: &mut Vec<(String, String)>) {
    if numbered.is_empty() {
        return;
    }
    let Some(limits) = bus.local().history_limits() else {
        numbered.clear();
        return;
    };
    // Redis publishes them back to every node with members, this one too:
    // it must hear the rooms first (one wait for all of them).
    let rooms: Vec<RoomName> = numbered
        .iter()
        .filter_map(|(room, _)| bus.local().policy().name(room).ok())
        .collect();
    bus.hear_rooms(&rooms).await;
    match history::number_and_publish(bus.client(), bus.keys(), limits, numbered).await {
        Ok(()) => numbered.iter().for_each(|_| bus.metrics().sent()),
        Err(error) => {
            numbered.iter().for_each(|_| bus.metrics().send_failed());
            warn!(%error, events = numbered.len(), "numbering events in Redis failed: they are lost");
        }
    }
    numbered.clear();
}

async fn send_one(bus: &ClusterBus, item: Outgoing) {
    match item {
        // Batched by the send loop.
        Outgoing::Publish { .. } | Outgoing::Sequence { .. } => {}
        Outgoing::KeepDeparted(token) => {
            let (Some(session), Some(limits)) =
                (bus.local().departed_session(&token), bus.local().history_limits())
            else {
                return;
            };
            if let Err(error) =
                history::keep_departed(bus.client(), bus.keys(), &token, &session, limits.ttl).await
            {
                debug!(%error, "keeping a departed session in Redis failed");
            }
        }
        Outgoing::Record(sid) => {
            let snapshot = bus.local().connection(sid);
            if let Err(error) =
                directory::write_record(bus.client(), bus.keys(), sid, snapshot.as_ref()).await
            {
                debug!(%error, %sid, "directory write failed");
            }
        }
    }
}
