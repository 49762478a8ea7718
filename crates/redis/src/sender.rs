//! The cluster bus's sender task: what a node tells Redis, in order, and
//! never awaited on the delivery path. Runs of queued publishes go out as
//! one pipeline, runs of emits to recoverable rooms as one numbering
//! script, and runs of directory records and departed sessions as one
//! pipeline, so that a burst pays one round trip to Redis, not one per
//! message.
//!
//! The task holds the bus weakly and ends when its queue is closed and
//! empty: [`SenderTask::drain`] closes it at shutdown, so that what the
//! shutdown's own disconnects queued (the departed sessions other nodes
//! need to resume those clients) reaches Redis before the node leaves.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use fred::prelude::*;
use sockgate_core::{RoomName, Sid};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::cluster::ClusterBus;
use crate::directory;
use crate::keys::{Channel, ChannelKind};
use crate::recovery::numbering::ToNumber;

/// Work for the sender task.
pub(crate) enum Outgoing {
    /// Publish a message on a channel.
    Publish { channel: Channel, payload: String },
    /// Write (or remove) one connection's directory record.
    Record(Sid),
    /// Number an emit to a recoverable room in Redis, and publish it.
    Sequence(ToNumber),
    /// Keep a departed connection's rooms in Redis under its resume token.
    KeepDeparted(Arc<str>),
}

/// Most queued items the sender takes at once.
const SEND_BATCH: usize = 128;

/// The running sender task, as the bus that feeds it sees it.
pub(crate) struct SenderTask {
    /// Tells the task to close its queue and finish what is in it.
    close: oneshot::Sender<()>,
    task: JoinHandle<()>,
    /// Items of the batch being sent (for the count of what was left).
    in_flight: Arc<AtomicUsize>,
}

/// What a drain that ran out of time left unsent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unsent {
    /// Items never taken from the queue.
    pub(crate) queued: usize,
    /// Items of the batch that was being sent (some may have gone).
    pub(crate) in_flight: usize,
}

impl SenderTask {
    /// Starts the task on `queue`; it holds `bus` weakly, so that it never
    /// keeps the bus (and so its own queue) alive.
    pub(crate) fn spawn(bus: Weak<ClusterBus>, queue: mpsc::Receiver<Outgoing>) -> Self {
        let (close, closed) = oneshot::channel();
        let in_flight = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(send_loop(bus, queue, closed, in_flight.clone()));
        SenderTask {
            close,
            task,
            in_flight,
        }
    }

    /// Closes the queue (what is queued still goes out; nothing more can be
    /// queued) and waits until the task has sent it all, or until `give_up`
    /// resolves: then the task is stopped and what it left is counted
    /// (`outgoing` is the queue's sending side).
    pub(crate) async fn drain(
        mut self,
        give_up: impl std::future::Future<Output = ()>,
        outgoing: &mpsc::Sender<Outgoing>,
    ) -> Result<(), Unsent> {
        let _ = self.close.send(());
        let finished = tokio::select! {
            _ = &mut self.task => true,
            () = give_up => false,
        };
        if finished {
            return Ok(());
        }
        let unsent = Unsent {
            queued: outgoing.max_capacity() - outgoing.capacity(),
            in_flight: self.in_flight.load(Ordering::Relaxed),
        };
        self.task.abort();
        Err(unsent)
    }
}

/// Runs of items that go to Redis together, each kept in queue order.
#[derive(Default)]
struct Runs {
    /// Publishes: channel, payload.
    published: Vec<(Channel, String)>,
    /// Emits to recoverable rooms: room, payload.
    numbered: Vec<ToNumber>,
    /// Directory records and departed sessions.
    written: Vec<Outgoing>,
}

/// Publishes queued messages and writes directory records, in order,
/// until the queue is closed (by [`SenderTask::drain`], or because the bus
/// is gone) and empty. A run of one kind is sent before an item of another
/// kind is taken, so Redis sees them in queue order.
async fn send_loop(
    bus: Weak<ClusterBus>,
    mut queue: mpsc::Receiver<Outgoing>,
    mut close: oneshot::Receiver<()>,
    in_flight: Arc<AtomicUsize>,
) {
    let mut batch = Vec::with_capacity(SEND_BATCH);
    let mut runs = Runs::default();
    let mut closing = false;
    loop {
        let received = tokio::select! {
            // Told to drain, or the bus dropped its handle on the task:
            // nothing more can be queued, what is queued still goes out.
            _ = &mut close, if !closing => {
                queue.close();
                closing = true;
                continue;
            }
            received = queue.recv_many(&mut batch, SEND_BATCH) => received,
        };
        if received == 0 {
            return;
        }
        let Some(bus) = bus.upgrade() else { return };
        in_flight.store(batch.len(), Ordering::Relaxed);
        for item in batch.drain(..) {
            match item {
                Outgoing::Publish { channel, payload } => {
                    send_numbered(&bus, &mut runs.numbered).await;
                    send_written(&bus, &mut runs.written).await;
                    runs.published.push((channel, payload));
                }
                Outgoing::Sequence(event) => {
                    send_published(&bus, &mut runs.published).await;
                    send_written(&bus, &mut runs.written).await;
                    runs.numbered.push(event);
                }
                written @ (Outgoing::Record(_) | Outgoing::KeepDeparted(_)) => {
                    send_published(&bus, &mut runs.published).await;
                    send_numbered(&bus, &mut runs.numbered).await;
                    runs.written.push(written);
                }
            }
        }
        send_published(&bus, &mut runs.published).await;
        send_numbered(&bus, &mut runs.numbered).await;
        send_written(&bus, &mut runs.written).await;
        in_flight.store(0, Ordering::Relaxed);
    }
}

/// Publishes the queued messages, in order, as one pipeline (on a Redis
/// Cluster, fred sends each to its channel's shard, in order per shard).
async fn send_published(bus: &ClusterBus, published: &mut Vec<(Channel, String)>) {
    if published.is_empty() {
        return;
    }
    let pipeline = bus.client().pipeline();
    let sharded = bus.keys().sharded();
    let mut kinds = Vec::with_capacity(published.len());
    for (channel, payload) in published.drain(..) {
        match crate::pubsub::queue_publish(&pipeline, sharded, channel.name, payload).await {
            Ok(()) => kinds.push(channel.kind),
            Err(error) => {
                bus.metrics().send_failed();
                debug!(%error, "cluster publish could not be queued");
            }
        }
    }
    for (outcome, kind) in pipeline.try_all::<Value>().await.into_iter().zip(kinds) {
        match outcome {
            Ok(_) => bus.metrics().sent(kind),
            Err(error) => {
                bus.metrics().send_failed();
                debug!(%error, "cluster publish failed");
            }
        }
    }
}

/// Numbers and publishes the queued emits to recoverable rooms.
async fn send_numbered(bus: &ClusterBus, numbered: &mut Vec<ToNumber>) {
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
        .filter_map(|event| bus.local().policy().name(&event.room).ok())
        .collect();
    bus.hear_rooms(&rooms).await;
    let outcome =
        crate::recovery::numbering::number_and_publish(bus.client(), bus.keys(), limits, numbered).await;
    let lost = match outcome {
        Ok(()) => 0,
        Err(failed) => {
            warn!(error = %failed.error, events = failed.lost, "numbering events in Redis failed: they are lost");
            failed.lost
        }
    };
    for _ in lost..numbered.len() {
        bus.metrics().sent(ChannelKind::Room);
    }
    for _ in 0..lost {
        bus.metrics().send_failed();
    }
    numbered.clear();
}

/// Writes the queued directory records and departed sessions, in order,
/// as one pipeline. Each is read from the local bus now, so a record
/// written is the connection's latest state.
async fn send_written(bus: &ClusterBus, written: &mut Vec<Outgoing>) {
    if written.is_empty() {
        return;
    }
    let pipeline = bus.client().pipeline();
    let limits = bus.local().history_limits();
    for item in written.drain(..) {
        let queued = match item {
            Outgoing::KeepDeparted(token) => {
                let (Some(session), Some(limits)) = (bus.local().departed_session(&token), limits) else {
                    continue;
                };
                crate::recovery::departed::keep_departed(&pipeline, bus.keys(), &token, &session, limits.ttl)
                    .await
            }
            Outgoing::Record(sid) => {
                let snapshot = bus.local().connection(sid);
                directory::write_record(&pipeline, bus.keys(), sid, snapshot.as_ref()).await
            }
            // Sent by send_published and send_numbered.
            Outgoing::Publish { .. } | Outgoing::Sequence(_) => Ok(()),
        };
        if let Err(error) = queued {
            debug!(%error, "a directory or departed-session write could not be queued");
        }
    }
    for outcome in pipeline.try_all::<Value>().await {
        if let Err(error) = outcome {
            debug!(%error, "a directory or departed-session write failed");
        }
    }
}
