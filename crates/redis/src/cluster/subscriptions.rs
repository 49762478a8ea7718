//! Which room channels a node is subscribed to: exactly the rooms with
//! local members. One reconciler task follows joins and leaves and is the
//! only one to (un)subscribe, so Redis sees the changes in the order the
//! node's state records them; a join that must hear its room before it is
//! acked asks the reconciler and waits for its confirmation.

use std::sync::Weak;

use fred::clients::SubscriberClient;
use fred::prelude::*;
use sockgate_core::{Heard, RoomName};
use tokio::sync::broadcast::error::RecvError;
use tracing::{debug, info, warn};

use super::ClusterBus;
use crate::keys::Keys;
use crate::{emitter, pubsub, ClusterConfig};

/// The channels a node hears whatever its rooms: the broadcast channel,
/// its own channel, and the `@socket.io/redis-emitter` patterns when
/// `cluster.emitter` is on.
pub(super) struct NodeChannels {
    /// The broadcast channel and this node's own.
    channels: Vec<String>,
    patterns: Vec<String>,
    /// Sharded channels (a Redis Cluster); patterns never are.
    sharded: bool,
}

impl NodeChannels {
    pub(super) fn new(keys: &Keys, config: &ClusterConfig) -> Self {
        NodeChannels {
            channels: vec![keys.broadcast_channel().name, keys.node_channel(keys.node()).name],
            patterns: match config.emitter {
                true => emitter::patterns(&config.emitter_prefix),
                false => Vec::new(),
            },
            sharded: keys.sharded(),
        }
    }

    /// Subscribes to them and returns once Redis has them.
    pub(super) async fn subscribe(&self, subscriber: &SubscriberClient) -> Result<(), Error> {
        for outcome in pubsub::subscribe(subscriber, self.sharded, self.channels.clone()).await {
            outcome?;
        }
        pubsub::psubscribe(subscriber, self.sharded, self.patterns.clone()).await
    }

    /// Its sharded channels (none on one Redis).
    pub(super) fn sharded_channels(&self) -> &[String] {
        match self.sharded {
            true => &self.channels,
            false => &[],
        }
    }

    /// Whether some of them were never subscribed successfully.
    fn missing(&self, subscriber: &SubscriberClient) -> bool {
        let channels = match self.sharded {
            true => subscriber.tracked_shard_channels(),
            false => subscriber.tracked_channels(),
        };
        let patterns = subscriber.tracked_patterns();
        self.channels
            .iter()
            .any(|c| !channels.iter().any(|t| &**t == c.as_str()))
            || self
                .patterns
                .iter()
                .any(|p| !patterns.iter().any(|t| &**t == p.as_str()))
    }

    /// Subscribes to them again: after a reconnect (`all`), or when their
    /// subscription at start failed and Redis is there now.
    async fn restore(&self, subscriber: &SubscriberClient, all: bool) {
        if !all && (!subscriber.is_connected() || !self.missing(subscriber)) {
            return;
        }
        match self.subscribe(subscriber).await {
            Ok(()) => info!("subscribed to the cluster's broadcast channel"),
            Err(error) => {
                warn!(%error, "cannot subscribe to the cluster's broadcast channel: retrying after the next reconnect");
            }
        }
    }
}

impl ClusterBus {
    pub(super) fn is_subscribed(&self, room: &RoomName) -> bool {
        self.subscribed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(room)
    }

    fn set_subscribed(&self, rooms: &[RoomName], on: bool) {
        let mut subscribed = self.subscribed.lock().unwrap_or_else(|p| p.into_inner());
        for room in rooms {
            match on {
                true => subscribed.insert(room.clone()),
                false => subscribed.remove(room),
            };
        }
    }

    /// Whether events published to `room` on other nodes reach this node:
    /// Redis has confirmed its channel's subscription, or Redis (or one of
    /// its shards) is gone (then there is nothing to wait for; the
    /// reconnect resubscribes).
    pub(super) fn hears_room(&self, room: &RoomName) -> bool {
        !self.metrics.is_connected() || self.is_subscribed(room)
    }

    /// After the subscriber reconnects no subscription is known to be in
    /// place (fred resubscribes on its own, unconfirmed): every room with
    /// local members is subscribed again and confirmed, and joins wait for
    /// that meanwhile.
    fn resubscribe_all(&self) {
        self.subscribed.lock().unwrap_or_else(|p| p.into_inner()).clear();
        let rooms: Vec<RoomName> = self.local.rooms().into_iter().map(|(room, _)| room).collect();
        self.touch_rooms(&rooms);
    }

    /// Subscribes to `rooms` again (their slot moved to another master),
    /// confirmed; joins to them wait for that meanwhile.
    pub(super) fn resubscribe(&self, rooms: &[RoomName]) {
        self.set_subscribed(rooms, false);
        self.touch_rooms(rooms);
    }

    /// When this node's members of `rooms` hear them (see
    /// [`Self::hear_rooms`]): now, when every one is subscribed already.
    pub(crate) fn heard(&self, rooms: Vec<RoomName>) -> Heard {
        if !self.unheard(&rooms) {
            return Heard::now();
        }
        let me = self.me.clone();
        Heard::after(async move {
            if let Some(bus) = me.upgrade() {
                bus.hear_rooms(&rooms).await;
            }
        })
    }

    /// Whether some of `rooms` have members here but are not heard yet.
    fn unheard(&self, rooms: &[RoomName]) -> bool {
        rooms
            .iter()
            .any(|room| !self.hears_room(room) && self.local.member_count(room.as_str()) > 0)
    }

    /// Waits until this node hears the channels of `rooms`, so that
    /// something published there next reaches its local members: the
    /// reconciler subscribes a moment after a join, and an event published
    /// in that moment would reach nobody here. Rooms with no local member
    /// any more are not waited for; the whole wait ends after
    /// `cluster.timeout`, however many rooms.
    pub(crate) async fn hear_rooms(&self, rooms: &[RoomName]) {
        let mut confirmed = self.subscriptions_confirmed.subscribe();
        if !self.unheard(rooms) {
            return;
        }
        self.touch_rooms(rooms);
        let wait = async {
            while self.unheard(rooms) {
                if confirmed.changed().await.is_err() {
                    return;
                }
            }
        };
        if tokio::time::timeout(self.timeout, wait).await.is_err() {
            self.metrics.subscription_timed_out();
            warn!(
                rooms = rooms.len(),
                "room subscriptions not confirmed within cluster.timeout: going on without them"
            );
        }
    }
}

/// Keeps room-channel subscriptions equal to the rooms with local members,
/// a batch of changed rooms at a time, and tells waiting joins after each.
/// After each reconnect it subscribes everything again, the node's own
/// channels included. (fred's `manage_subscriptions` is not used: it
/// resubscribes only what once succeeded, and sends an empty SUBSCRIBE,
/// which Redis refuses, when that is nothing.)
pub(super) async fn reconcile_loop(
    weak: Weak<ClusterBus>,
    subscriber: SubscriberClient,
    channels: NodeChannels,
) {
    let mut reconnects = subscriber.reconnect_rx();
    // Their subscription at start failed, or Redis came since.
    channels.restore(&subscriber, false).await;
    loop {
        let Some(bus) = weak.upgrade() else { return };
        let dirty = std::mem::take(&mut *bus.dirty_rooms.lock().unwrap_or_else(|p| p.into_inner()));
        if dirty.is_empty() {
            tokio::select! {
                // notify_one keeps a permit when nobody waits, so no change is missed.
                () = bus.rooms_changed.notified() => {}
                reconnect = reconnects.recv() => match reconnect {
                    Err(RecvError::Closed) => return,
                    // Lagged behind reconnects is still a reconnect.
                    Ok(_) | Err(RecvError::Lagged(_)) => {
                        bus.resubscribe_all();
                        channels.restore(&subscriber, true).await;
                    }
                },
            }
            continue;
        }
        let (mut wanted, mut unwanted) = (Vec::new(), Vec::new());
        for room in dirty {
            match (
                bus.local.member_count(room.as_str()) > 0,
                bus.is_subscribed(&room),
            ) {
                (true, false) => wanted.push(room),
                (false, true) => unwanted.push(room),
                _ => {}
            }
        }
        if !unwanted.is_empty() {
            // Marked first, then checked again: a join that lands in between
            // either is seen here or sees the room as not heard and waits.
            bus.set_subscribed(&unwanted, false);
            let (empty, rejoined): (Vec<_>, Vec<_>) = unwanted
                .into_iter()
                .partition(|room| bus.local.member_count(room.as_str()) == 0);
            bus.set_subscribed(&rejoined, true);
            let names: Vec<String> = empty
                .iter()
                .map(|room| bus.room_channel(room.as_str()).name)
                .collect();
            bus.forget_heard(names.iter().map(String::as_str));
            pubsub::unsubscribe(&subscriber, channels.sharded, names).await;
        }
        if !wanted.is_empty() {
            let names = wanted
                .iter()
                .map(|room| bus.room_channel(room.as_str()).name)
                .collect();
            let outcomes = pubsub::subscribe(&subscriber, channels.sharded, names).await;
            let mut confirmed = Vec::with_capacity(wanted.len());
            for (room, outcome) in wanted.into_iter().zip(outcomes) {
                match outcome {
                    Ok(()) => confirmed.push(room),
                    // Unconfirmed rooms are subscribed again after a reconnect
                    // (resubscribe_all): fred keeps only what succeeded.
                    Err(error) => debug!(%error, room = room.as_str(), "room subscription failed"),
                }
            }
            bus.set_subscribed(&confirmed, true);
        }
        bus.subscriptions_confirmed.send_modify(|batches| *batches += 1);
    }
}
