//! Following slots that move between a Redis Cluster's masters while a
//! node is subscribed to channels in them.
//!
//! A sharded subscription lives on the master that owned its channel's
//! slot when it was made. When the slot moves (`CLUSTER SETSLOT … NODE`,
//! `redis-cli --cluster reshard`), publishers are redirected to the new
//! owner, but nothing tells a subscriber: Redis drops the subscription on
//! the old owner (or keeps it on a master that no longer gets the
//! channel's messages), and fred discards the `sunsubscribe` it may push.
//! The room would go deaf without a word. So, every heartbeat, each node
//! refreshes its subscriber's view of the slots (`CLUSTER SLOTS`) and
//! subscribes again, confirmed as after a join, to every room whose slot
//! changed master since the last look. (A failover needs none of this: the
//! lost connection makes the client reconnect, after which every room is
//! subscribed again.)

use std::sync::Weak;
use std::time::Duration;

use fred::clients::SubscriberClient;
use fred::prelude::*;
use fred::types::cluster::ClusterRouting;
use fred::util::redis_keyslot;
use sockgate_core::RoomName;
use tracing::{debug, info, warn};

use super::subscriptions::NodeChannels;
use super::ClusterBus;

/// Watches the slot map every `every` and resubscribes the rooms whose
/// slot moved. Returns at once on one Redis.
pub(super) async fn follow_slot_moves(
    weak: Weak<ClusterBus>,
    subscriber: SubscriberClient,
    channels: NodeChannels,
    every: Duration,
) {
    if !weak.upgrade().is_some_and(|bus| bus.keys.sharded()) {
        return;
    }
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut before: Option<ClusterRouting> = None;
    loop {
        tick.tick().await;
        let Some(bus) = weak.upgrade() else { return };
        if !subscriber.is_connected() {
            // A reconnect subscribes everything again anyway.
            before = None;
            continue;
        }
        if let Err(error) = subscriber.sync_cluster().await {
            debug!(%error, "refreshing the cluster's slot map failed");
            continue;
        }
        let Some(now) = subscriber.cached_cluster_state() else {
            continue;
        };
        if let Some(before) = before.as_ref().filter(|before| before.slots() != now.slots()) {
            let moved = bus.rooms_moved(before, &now);
            if !moved.is_empty() {
                info!(
                    rooms = moved.len(),
                    "slots moved to other masters: subscribing to their rooms again"
                );
                bus.resubscribe(&moved);
            }
            // The broadcast channel and this node's own are sharded too.
            let node_channel_moved = channels.sharded_channels().iter().any(|channel| {
                let slot = redis_keyslot(channel.as_bytes());
                before.get_server(slot) != now.get_server(slot)
            });
            if node_channel_moved {
                match channels.subscribe(&subscriber).await {
                    Ok(()) => info!("a slot of the node's channels moved: subscribed to them again"),
                    Err(error) => {
                        warn!(%error, "cannot subscribe to the node's channels again after their slot moved")
                    }
                }
            }
        }
        before = Some(now);
    }
}

impl ClusterBus {
    /// The subscribed rooms whose channel's slot has another master in
    /// `now` than in `before`.
    fn rooms_moved(&self, before: &ClusterRouting, now: &ClusterRouting) -> Vec<RoomName> {
        let subscribed: Vec<RoomName> = self
            .subscribed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect();
        subscribed
            .into_iter()
            .filter(|room| {
                let slot = redis_keyslot(self.room_channel(room.as_str()).name.as_bytes());
                before.get_server(slot) != now.get_server(slot)
            })
            .collect()
    }
}
