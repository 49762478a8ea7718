//! [`LocalBus`]: the in-process implementation of [`Bus`].
//!
//! Two sharded maps hold the state: `rooms` (room → members) and `conns`
//! (connection → its route and rooms). Lock order is always `conns` shard
//! first, then `rooms` shard; publish touches only one `rooms` shard, with a
//! read lock, so publishes to different rooms never contend and publishes to
//! the same room run in parallel. Group outlets are called after that lock is
//! released, so an outlet may call back into the bus.

use std::collections::HashSet;
use std::sync::Arc;

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use serde_json::value::RawValue;
use sockgate_core::{
    is_reserved_event, Bus, BusError, Envelope, GroupId, GroupOutlet, Offer, Result, RoomName, RoomPolicy,
    Route, Sid,
};

use crate::metrics::Metrics;
use crate::room::Room;

/// Limits the bus enforces on every publish, whatever the protocol.
#[derive(Debug, Clone)]
pub struct BusLimits {
    /// Longest accepted event name in bytes (`limits.max_event_name_bytes`).
    pub max_event_name_bytes: usize,
}

impl Default for BusLimits {
    fn default() -> Self {
        BusLimits {
            max_event_name_bytes: 128,
        }
    }
}

struct Conn {
    route: Route,
    rooms: HashSet<RoomName>,
}

/// The in-process room registry and fan-out shared by both protocol fronts.
pub struct LocalBus {
    policy: RoomPolicy,
    limits: BusLimits,
    groups: Vec<Arc<dyn GroupOutlet>>,
    rooms: DashMap<RoomName, Room>,
    conns: DashMap<Sid, Conn>,
    metrics: Metrics,
}

impl LocalBus {
    /// A bus with the given room policy and no group outlets yet.
    pub fn new(policy: RoomPolicy, limits: BusLimits) -> Self {
        LocalBus {
            policy,
            limits,
            groups: Vec::new(),
            rooms: DashMap::new(),
            conns: DashMap::new(),
            metrics: Metrics::default(),
        }
    }

    /// Adds a group outlet before the bus is shared; connections routed
    /// through it use the returned id.
    pub fn add_group(&mut self, outlet: Arc<dyn GroupOutlet>) -> GroupId {
        self.groups.push(outlet);
        GroupId(self.groups.len() - 1)
    }

    /// The bus's counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The number of rooms with at least one member.
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// The number of members of `room` (0 when it does not exist).
    pub fn member_count(&self, room: &str) -> usize {
        self.rooms.get(room).map_or(0, |r| r.len())
    }

    /// The number of registered connections.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    fn check_event(&self, event: &str) -> Result<()> {
        if event.is_empty() || event.len() > self.limits.max_event_name_bytes {
            return Err(BusError::InvalidEvent {
                max: self.limits.max_event_name_bytes,
            });
        }
        if is_reserved_event(event) {
            return Err(BusError::ReservedEvent(event.to_owned()));
        }
        Ok(())
    }

    fn notify_group(&self, route: &Route, apply: impl FnOnce(&dyn GroupOutlet)) {
        if let Route::Group(id) = route {
            if let Some(outlet) = self.groups.get(id.0) {
                apply(outlet.as_ref());
            }
        }
    }
}

impl Bus for LocalBus {
    fn connect(&self, sid: Sid, route: Route) {
        self.conns.insert(
            sid,
            Conn {
                route,
                rooms: HashSet::new(),
            },
        );
    }

    fn disconnect(&self, sid: Sid) {
        let Some((_, conn)) = self.conns.remove(&sid) else {
            return;
        };
        for room in &conn.rooms {
            remove_member(&self.rooms, room, sid);
        }
    }

    fn join(&self, sid: Sid, room: &str) -> Result<RoomName> {
        let room = self.policy.name(room)?;
        if !self.policy.may_join(&room) {
            return Err(BusError::JoinForbidden(room.to_string()));
        }
        let mut conn = self.conns.get_mut(&sid).ok_or(BusError::UnknownConnection)?;
        if conn.rooms.insert(room.clone()) {
            self.rooms
                .entry(room.clone())
                .or_default()
                .insert(sid, &conn.route);
            self.notify_group(&conn.route, |outlet| outlet.on_join(sid, &room));
        }
        Ok(room)
    }

    fn leave(&self, sid: Sid, room: &str) -> Result<RoomName> {
        let room = self.policy.name(room)?;
        let mut conn = self.conns.get_mut(&sid).ok_or(BusError::UnknownConnection)?;
        if conn.rooms.remove(&room) {
            self.notify_group(&conn.route, |outlet| outlet.on_leave(sid, &room));
            remove_member(&self.rooms, &room, sid);
        }
        Ok(room)
    }

    fn publish(&self, sender: Option<Sid>, room: &str, event: &str, data: Box<RawValue>) -> Result<()> {
        let room = self.policy.name(room)?;
        if !self.policy.may_publish(&room) {
            return Err(BusError::PublishForbidden(room.to_string()));
        }
        self.check_event(event)?;
        let Some(members) = self.rooms.get(&room) else {
            self.metrics.published(0, 0, 0);
            return Ok(());
        };
        let envelope = Arc::new(Envelope::new(room.clone(), event.into(), data, sender));
        let (mut queued, mut slow) = (0, 0);
        for (sid, recipient) in &members.direct {
            if Some(*sid) == sender {
                continue;
            }
            match recipient.offer(&envelope) {
                Offer::Queued => queued += 1,
                Offer::Full => slow += 1,
                Offer::Closed => {}
            }
        }
        let groups: Vec<GroupId> = members.groups_to_reach(sender).collect();
        drop(members);
        for group in &groups {
            self.groups[group.0].broadcast(&room, sender, &envelope);
        }
        self.metrics.published(queued, groups.len() as u64, slow);
        Ok(())
    }
}

/// Removes `sid` from `room`, dropping the room when it becomes empty; both
/// happen under one shard lock so a concurrent join cannot be lost.
fn remove_member(rooms: &DashMap<RoomName, Room>, room: &RoomName, sid: Sid) {
    if let Entry::Occupied(mut entry) = rooms.entry(room.clone()) {
        entry.get_mut().remove(sid);
        if entry.get().is_empty() {
            entry.remove();
        }
    }
}

#[cfg(test)]
mod tests;
