//! [`LocalBus`]'s part of missed-message recovery: publishing to rooms that
//! keep a history, keeping the rooms of departed connections, and resuming.
//! The stream store itself is `crate::stream`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use serde_json::value::RawValue;
use sockgate_core::{
    BusError, ConnMeta, DepartedSession, Envelope, GapReason, GroupTarget, Position, Result, Resumed,
    RoomName, Route, Sid,
};

use super::{Delivered, LocalBus};

impl LocalBus {
    /// Whether `room` keeps a history.
    pub(super) fn recovers(&self, room: &RoomName) -> bool {
        self.streams.is_some() && self.policy.recovers(room)
    }

    /// Numbers the event, keeps it, and offers it to the room's members,
    /// all under the room stream's lock, so that every member gets the
    /// room's events in offset order.
    pub(super) fn deliver_recoverable(
        &self,
        room: &RoomName,
        except: &[Sid],
        event: &str,
        data: Box<RawValue>,
    ) {
        let Some(streams) = &self.streams else {
            return;
        };
        let stream = streams.lock(room);
        let mut stream = stream.lock();
        let envelope = Envelope::new(Some(room.clone()), event.into(), data);
        let envelope = stream.append(envelope, streams.limits, Instant::now());
        let mut delivered = Delivered::default();
        let mut groups = Vec::new();
        if let Some(members) = self.rooms.get(room) {
            for (sid, recipient) in &members.direct {
                if !except.contains(sid) {
                    delivered.count(recipient.offer(&envelope));
                }
            }
            members.groups_to_reach(except, &mut groups);
        }
        for group in &groups {
            let rooms = std::slice::from_ref(room);
            self.groups[group.0].deliver(GroupTarget::Rooms(rooms), except, &envelope);
        }
        self.metrics
            .published(delivered.queued, groups.len() as u64, delivered.slow);
    }

    /// A connection went away: its recoverable rooms' streams are kept at
    /// least another ttl, and its rooms under its resume token.
    pub(super) fn on_departure(&self, meta: ConnMeta, rooms: HashSet<RoomName>, token_kept: bool) {
        let Some(streams) = &self.streams else {
            return;
        };
        let now = Instant::now();
        for room in rooms.iter().filter(|room| self.policy.recovers(room)) {
            streams.lock(room).lock().touch(now);
        }
        if let (Some(token), true) = (meta.resume_token, token_kept) {
            let rooms = without_user_room(rooms.into_iter(), meta.user.as_deref());
            self.departed.keep(token, meta.user, rooms);
        }
    }

    /// The session under `token`: a departed one, or a connection still
    /// registered with it, which the gateway has not seen die yet (a phone
    /// that switched networks comes back before its old link times out).
    /// That one is disconnected, and its rooms are taken over.
    pub(super) fn take_departed_session(&self, token: &str, user: Option<&str>) -> Option<DepartedSession> {
        let ttl = self.streams.as_ref()?.limits.ttl;
        if let Some(departed) = self.departed.take(token, ttl, user) {
            return Some(DepartedSession {
                user: departed.user,
                rooms: departed.rooms,
            });
        }
        let old = *self.tokens.get(token)?;
        let snapshot = sockgate_core::Bus::connection(self, old)?;
        if snapshot.meta.user.as_deref() != user {
            return None;
        }
        self.tokens.remove(token);
        sockgate_core::Bus::kick(self, sockgate_core::Who::Sid(old));
        let user = snapshot.meta.user;
        Some(DepartedSession {
            rooms: without_user_room(snapshot.rooms.into_iter(), user.as_deref()),
            user,
        })
    }

    pub(super) fn resume_room(
        &self,
        sid: Sid,
        room: &str,
        from: Option<&Position>,
        trusted: bool,
    ) -> Result<Resumed> {
        let name = match trusted {
            true => self.policy.name(room)?,
            false => self.client_room(room)?,
        };
        let join = |bus: &Self| match trusted {
            true => bus.add_member(sid, &name),
            false => sockgate_core::Bus::join(bus, sid, room).map(drop),
        };
        let Some(streams) = self.streams.as_ref().filter(|_| self.policy.recovers(&name)) else {
            join(self)?;
            return Ok(match from {
                Some(_) => Resumed::Gap(GapReason::NotRecoverable),
                None => Resumed::Replayed(0),
            });
        };
        // Joined and replayed under the stream's lock: no publish to the
        // room falls between the replay and the live events.
        let stream = streams.lock(&name);
        let mut stream = stream.lock();
        join(self)?;
        let Some(from) = from else {
            return Ok(Resumed::Replayed(0));
        };
        let missed = match stream.after(from, streams.limits, Instant::now()) {
            Ok(missed) => missed,
            Err(gap) => return Ok(Resumed::Gap(gap)),
        };
        let route = self
            .conns
            .get(&sid)
            .map(|conn| conn.route.clone())
            .ok_or(BusError::UnknownConnection)?;
        for envelope in &missed {
            self.replay_to(sid, &route, envelope);
        }
        Ok(Resumed::Replayed(missed.len()))
    }

    fn replay_to(&self, sid: Sid, route: &Route, envelope: &Arc<Envelope>) {
        match route {
            Route::Direct(recipient) => {
                recipient.offer(envelope);
            }
            Route::Group(group) => self.groups[group.0].deliver(GroupTarget::One(sid), &[], envelope),
        }
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

/// A connection's rooms but its own user room, which comes back with the
/// user's authentication, not with a resume.
fn without_user_room(rooms: impl Iterator<Item = RoomName>, user: Option<&str>) -> Vec<RoomName> {
    let own = user.map(sockgate_core::user_room);
    rooms
        .filter(|room| own.as_deref() != Some(room.as_str()))
        .collect()
}
