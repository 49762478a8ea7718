//! Which room channels a node is subscribed to: exactly the rooms with
//! local members. A reconciler task follows joins and leaves; a join that
//! must hear the room before it is acked subscribes at once, once per room
//! however many joins wait.

use std::sync::Weak;

use fred::clients::SubscriberClient;
use fred::prelude::*;
use sockgate_core::RoomName;
use tokio::sync::watch;
use tracing::debug;

use super::ClusterBus;

impl ClusterBus {
    pub(super) fn is_subscribed(&self, room: &RoomName) -> bool {
        self.subscribed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(room)
    }

    fn set_subscribed(&self, room: RoomName, on: bool) {
        let mut subscribed = self.subscribed.lock().unwrap_or_else(|p| p.into_inner());
        match on {
            true => subscribed.insert(room),
            false => subscribed.remove(&room),
        };
    }

    /// Whether events published to `room` on other nodes reach this node:
    /// it is subscribed to the room's channel, or Redis is gone (then there
    /// is nothing to wait for; the reconnect resubscribes).
    pub(super) fn hears_room(&self, room: &RoomName) -> bool {
        !self.metrics.is_connected() || self.is_subscribed(room)
    }

    /// Makes sure this node hears `room`'s channel before something is
    /// published there that its local members must get: the reconciler
    /// subscribes a moment after a join, and an event published in that
    /// moment would reach nobody here. Concurrent calls for one room share
    /// one SUBSCRIBE; a failure or fred's command timeout (`cluster.timeout`)
    /// ends the wait.
    pub(crate) async fn subscribe_now(&self, room: &str) {
        let Ok(name) = self.local.policy().name(room) else {
            return;
        };
        if self.hears_room(&name) || self.local.member_count(room) == 0 {
            return;
        }
        let pending = {
            let mut subscribing = self.subscribing.lock().unwrap_or_else(|p| p.into_inner());
            match subscribing.get(&name) {
                Some(done) => Err(done.clone()),
                None => {
                    let (done, waiters) = watch::channel(());
                    subscribing.insert(name.clone(), waiters);
                    Ok(Subscribing {
                        bus: self,
                        room: name.clone(),
                        _done: done,
                    })
                }
            }
        };
        match pending {
            // Another call is subscribing: its end (sender dropped) is ours.
            Err(mut done) => {
                let _ = done.changed().await;
            }
            Ok(subscribing) => {
                match self.subscriber.subscribe(self.room_channel(room)).await {
                    Ok(()) => self.set_subscribed(name, true),
                    Err(error) => debug!(%error, room, "room subscription failed"),
                }
                drop(subscribing);
            }
        }
    }
}

/// A SUBSCRIBE in flight for one room: dropping it, however the call
/// ended, releases the other joins waiting for the same room.
struct Subscribing<'a> {
    bus: &'a ClusterBus,
    room: RoomName,
    _done: watch::Sender<()>,
}

impl Drop for Subscribing<'_> {
    fn drop(&mut self) {
        self.bus
            .subscribing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.room);
    }
}

/// Keeps room-channel subscriptions equal to the rooms with local members.
pub(super) async fn reconcile_loop(weak: Weak<ClusterBus>, subscriber: SubscriberClient) {
    loop {
        let Some(bus) = weak.upgrade() else { return };
        let dirty = std::mem::take(&mut *bus.dirty_rooms.lock().unwrap_or_else(|p| p.into_inner()));
        if dirty.is_empty() {
            // notify_one keeps a permit when nobody waits, so no change is missed.
            bus.rooms_changed.notified().await;
            continue;
        }
        let dirty: Vec<_> = dirty
            .into_iter()
            .map(|room| {
                let wanted = bus.local.member_count(room.as_str()) > 0;
                (bus.room_channel(room.as_str()), room, wanted)
            })
            .collect();
        drop(bus);
        for (channel, room, wanted) in dirty {
            let Some(bus) = weak.upgrade() else { return };
            let result = match (wanted, bus.is_subscribed(&room)) {
                (true, false) => subscriber
                    .subscribe(channel)
                    .await
                    .map(|()| bus.set_subscribed(room, true)),
                (false, true) => subscriber
                    .unsubscribe(channel)
                    .await
                    .map(|()| bus.set_subscribed(room, false)),
                _ => Ok(()),
            };
            if let Err(error) = result {
                // fred tracks the channel anyway and resubscribes after a reconnect.
                debug!(%error, "room subscription change failed");
            }
        }
    }
}
