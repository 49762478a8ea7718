//! Missed-message recovery on one node, in one place (`docs/recovery.md`):
//!
//! - [`streams`]: each recoverable room's bounded, numbered history;
//! - [`departed`]: the rooms of connections that went away, under their
//!   resume token;
//! - [`numbered`]: delivering events that are numbered in a room's stream,
//!   here or by a cluster's Redis;
//! - [`resume`]: putting a connection back in its rooms and replaying what
//!   it missed, from this node's history or from one fetched elsewhere.
//!
//! The protocol fronts only translate their wire form; the cluster's own
//! numbering, in Redis, is `sockgate-redis`'s `recovery` module.

use std::sync::Arc;
use std::time::Instant;

use sockgate_core::{Args, DepartedSession, Position, RoomName};

use crate::LocalBus;

pub(crate) mod departed;
pub(crate) mod numbered;
pub(crate) mod resume;
pub(crate) mod streams;

/// A room's history as read from elsewhere (a cluster's Redis), for a resume.
#[derive(Debug)]
pub struct FetchedHistory {
    /// The history's epoch.
    pub epoch: Arc<str>,
    /// Its kept events (those after the client's position at least), oldest first.
    pub events: Vec<HistoryEvent>,
}

/// Where a resume reads a gap that this node's copy of a room's history
/// may not have (a cluster's Redis), for [`crate::LocalBus::resume_room_with`].
#[derive(Debug)]
pub struct Elsewhere<F> {
    /// Reads the room's history after a position; called once the member
    /// is back in the room, with the room and the position to read after.
    pub fetch: F,
    /// Whether this node's copy has every event numbered elsewhere so far,
    /// but those still on their way here: in a cluster, only while this
    /// node hears the room. A node whose last member of a room left
    /// stopped hearing it and keeps a copy that ends there; served from
    /// that copy, a resume from its last event would replay nothing of
    /// what was published since. When `false`, the gap is always fetched.
    pub copy_current: bool,
}

/// One event of a [`FetchedHistory`].
#[derive(Debug)]
pub struct HistoryEvent {
    /// Its offset.
    pub offset: u64,
    /// Its event name.
    pub event: String,
    /// Its arguments.
    pub args: Args,
}

impl LocalBus {
    /// Whether `room` keeps a history.
    pub(crate) fn recovers(&self, room: &RoomName) -> bool {
        self.streams.is_some() && self.policy.recovers(room)
    }

    /// Whether `room` keeps a history (`rooms.recover`).
    pub fn recovers_room(&self, room: &str) -> bool {
        // On every publish of a cluster: no allocation, nothing when off.
        self.streams.is_some() && self.policy.recovers_name(room)
    }

    /// Where this node's copy of `room`'s history (numbered by a cluster's
    /// Redis) ends, when an event numbered `next` would leave a hole after
    /// it: same epoch, offsets in between never delivered here (this node
    /// was not subscribed where they were published, as while a shard
    /// fails over). The caller reads the hole from Redis and delivers it
    /// first; `None` when nothing is missing or this node keeps no copy.
    pub fn missing_before(&self, room: &str, next: &Position) -> Option<Position> {
        let streams = self.streams.as_ref()?;
        let room = self.policy.name(room).ok()?;
        if !self.recovers(&room) {
            return None;
        }
        streams.peek(&room, |stream| stream.missing_before(next))?
    }

    /// This node stops hearing `rooms` on purpose (no local member left):
    /// events published there until it hears them again are not missed,
    /// so no hole is caught up then (see [`Self::missing_before`]).
    pub fn stopped_hearing(&self, rooms: &[RoomName]) {
        let Some(streams) = &self.streams else { return };
        for room in rooms {
            streams.peek(room, |stream| stream.stop_following());
        }
    }

    /// The history limits, when some rooms keep a history.
    pub fn history_limits(&self) -> Option<streams::HistoryLimits> {
        self.streams.as_ref().map(|s| s.limits)
    }

    /// What this node kept of the departed connection that had `token`
    /// (left in place), for a cluster to keep it in Redis too.
    pub fn departed_session(&self, token: &str) -> Option<DepartedSession> {
        self.departed.peek(token).map(|departed| DepartedSession {
            user: departed.user,
            rooms: departed.rooms,
            positions: departed.positions,
            trail: departed.trail,
        })
    }

    /// Forgets expired history and departed sessions; the app calls this
    /// now and then.
    pub fn sweep_history(&self) {
        if let Some(streams) = &self.streams {
            let now = Instant::now();
            streams.sweep(now);
            self.departed.sweep(streams.limits.ttl, now);
        }
    }

    /// Rooms with a history, and departed sessions kept (for metrics).
    pub fn history_counts(&self) -> (usize, usize) {
        let streams = self.streams.as_ref().map_or(0, |s| s.len());
        (streams, self.departed.len())
    }
}
