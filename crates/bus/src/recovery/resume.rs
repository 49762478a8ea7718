//! Resuming: putting a connection back in its rooms and queueing what it
//! missed before any live event, from this node's copy of a room's
//! history or from one fetched elsewhere (a cluster's Redis), and keeping
//! the rooms of connections that go away for that.
//!
//! While a resume fetches from elsewhere, live events for the resuming
//! member are held back (indexed by room: a publish looks at its own
//! room's only, and a disconnect forgets them).

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use sockgate_core::{
    BusError, ConnMeta, DepartedSession, Envelope, GapReason, Position, Result, Resumed, RoomName, Sid,
};

use super::{Elsewhere, FetchedHistory, HistoryEvent};
use crate::LocalBus;

/// Live events held for one resuming member at most; past it, the
/// resume's own replay is what the client gets.
const HELD_MAX: usize = 10_000;

/// A member resuming from a history fetched elsewhere, in one of its rooms.
pub(crate) enum Resuming {
    /// Its missed events are being fetched: live ones wait here.
    Held(Vec<Arc<Envelope>>),
    /// It got everything up to this offset already.
    Replayed(u64),
}

fn offset_of(envelope: &Envelope) -> u64 {
    envelope.position().map_or(0, |p| p.offset)
}

impl LocalBus {
    /// Resumes `sid` in `room` from `from`: from this node's copy of the
    /// room's history when it covers the gap and is current (or when
    /// there is nowhere else), else from the history read `elsewhere`,
    /// with the member's live events held back meanwhile and none
    /// delivered twice.
    pub async fn resume_room_with<F, Fut>(
        &self,
        sid: Sid,
        room: &str,
        from: Option<&Position>,
        trusted: bool,
        max_events: usize,
        elsewhere: Option<Elsewhere<F>>,
    ) -> Result<Resumed>
    where
        F: FnOnce(RoomName, Position) -> Fut,
        Fut: Future<Output = Option<FetchedHistory>>,
    {
        let elsewhere = match (elsewhere, from) {
            (Some(Elsewhere { fetch, copy_current }), Some(from))
                if !copy_current || !self.covers(room, from) =>
            {
                Some((fetch, from))
            }
            _ => None,
        };
        let Some((fetch, from)) = elsewhere else {
            let resumed = self.resume_here(sid, room, from, trusted, max_events);
            if let Ok(outcome) = resumed {
                self.metrics.resumed(outcome);
            }
            return resumed;
        };
        let name = self.start_resume(sid, room, trusted)?;
        let fetched = fetch(name.clone(), from.clone()).await;
        Ok(self.finish_resume(sid, &name, from, fetched, max_events))
    }

    /// Whether this node's copy of the room's history can serve a resume
    /// from `from` by itself.
    fn covers(&self, room: &str, from: &Position) -> bool {
        let (Some(streams), Ok(room)) = (&self.streams, self.policy.name(room)) else {
            return false;
        };
        let stream = streams.lock(&room);
        let mut stream = stream.lock();
        stream.after(from, streams.limits, Instant::now()).is_ok()
    }

    /// First half of a resume served from elsewhere: joins `sid` to `room`
    /// with its live events held back until `finish_resume`.
    pub(crate) fn start_resume(&self, sid: Sid, room: &str, trusted: bool) -> Result<RoomName> {
        let name = self.resume_room_name(room, trusted)?;
        let Some(streams) = &self.streams else {
            return Err(BusError::UnknownConnection);
        };
        let stream = streams.lock(&name);
        let _stream = stream.lock();
        self.set_resuming(sid, &name, Resuming::Held(Vec::new()));
        if let Err(error) = self.rejoin(sid, room, &name, trusted) {
            self.forget_resuming(sid, &name);
            return Err(error);
        }
        Ok(name)
    }

    /// Second half: queues the fetched missed events after `from` (the
    /// history's epoch and its events, oldest first; `None` when none is
    /// kept), then the live events held meanwhile, none twice, and lets
    /// live events through again.
    fn finish_resume(
        &self,
        sid: Sid,
        room: &RoomName,
        from: &Position,
        fetched: Option<FetchedHistory>,
        max_events: usize,
    ) -> Resumed {
        let Some(streams) = &self.streams else {
            return Resumed::Gap(GapReason::NotRecoverable);
        };
        let stream = streams.lock(room);
        let _stream = stream.lock();
        let held = match self.forget_resuming(sid, room) {
            Some(Resuming::Held(held)) => held,
            _ => Vec::new(),
        };
        let Some(recipient) = self.conns.get(&sid).map(|conn| conn.recipient.clone()) else {
            return Resumed::Replayed(0);
        };
        let (outcome, mut last) = match fetched {
            Some(history) if *history.epoch == *from.epoch => {
                let missed: Vec<HistoryEvent> = history
                    .events
                    .into_iter()
                    .filter(|e| e.offset > from.offset)
                    .collect();
                // The first missed event must still be there, and the lot fit.
                let hole = missed.first().is_some_and(|e| e.offset > from.offset + 1);
                if hole || missed.len() > max_events {
                    (Resumed::Gap(GapReason::TooOld), 0)
                } else {
                    let last = missed.last().map_or(from.offset, |e| e.offset);
                    let count = missed.len();
                    for HistoryEvent { offset, event, args } in missed {
                        let position = Position {
                            epoch: history.epoch.clone(),
                            offset,
                        };
                        let envelope = Envelope::new(Some(room.clone()), event.into(), args);
                        recipient.offer(&Arc::new(envelope.with_position(position)));
                    }
                    (Resumed::Replayed(count), last)
                }
            }
            _ => (Resumed::Gap(GapReason::EpochChanged), 0),
        };
        // The live events held meanwhile follow, but those just replayed.
        for envelope in &held {
            if offset_of(envelope) > last {
                recipient.offer(envelope);
                last = offset_of(envelope);
            }
        }
        // Events the replay read from Redis may still be on their way here
        // as live ones: this member skips them.
        if last > 0 {
            self.set_resuming(sid, room, Resuming::Replayed(last));
        }
        self.metrics.resumed(outcome);
        outcome
    }

    /// Members of `room` that must not get `envelope` now: those whose
    /// live events are held while their missed ones are fetched (it is kept
    /// for them), and those that got it already from a resume's replay.
    pub(crate) fn held_back(&self, room: &RoomName, envelope: &Arc<Envelope>) -> Vec<Sid> {
        if self.held.is_empty() {
            return Vec::new();
        }
        let Some(mut resuming) = self.held.get_mut(room) else {
            return Vec::new();
        };
        let offset = offset_of(envelope);
        let mut held = Vec::new();
        resuming.retain(|sid, state| match state {
            Resuming::Held(events) => {
                held.push(*sid);
                if events.len() < HELD_MAX {
                    events.push(envelope.clone());
                }
                true
            }
            Resuming::Replayed(last) if offset <= *last => {
                held.push(*sid);
                true
            }
            // Past what the replay covered: this member is live again.
            Resuming::Replayed(_) => false,
        });
        let empty = resuming.is_empty();
        drop(resuming);
        if empty {
            self.held.remove_if(room, |_, resuming| resuming.is_empty());
        }
        held
    }

    /// Notes where `sid` stands in resuming `room`.
    fn set_resuming(&self, sid: Sid, room: &RoomName, state: Resuming) {
        self.held.entry(room.clone()).or_default().insert(sid, state);
    }

    /// Forgets `sid`'s resume of `room` (done, failed, or it left).
    pub(crate) fn forget_resuming(&self, sid: Sid, room: &RoomName) -> Option<Resuming> {
        if self.held.is_empty() {
            return None;
        }
        let mut resuming = self.held.get_mut(room)?;
        let state = resuming.remove(&sid);
        let empty = resuming.is_empty();
        drop(resuming);
        if empty {
            self.held.remove_if(room, |_, resuming| resuming.is_empty());
        }
        state
    }

    /// Where each recoverable room of `rooms` stands now.
    fn positions_of(&self, rooms: &[RoomName]) -> Vec<(RoomName, Position)> {
        let Some(streams) = &self.streams else {
            return Vec::new();
        };
        rooms
            .iter()
            .filter(|room| self.policy.recovers(room))
            .map(|room| (room.clone(), streams.lock(room).lock().current()))
            .collect()
    }

    /// A connection went away: its recoverable rooms' streams are kept at
    /// least another ttl, and its rooms under its resume token.
    pub(crate) fn on_departure(
        &self,
        meta: ConnMeta,
        rooms: HashSet<RoomName>,
        token_kept: bool,
        trail: Vec<(RoomName, Position)>,
    ) {
        let Some(streams) = &self.streams else {
            return;
        };
        let now = Instant::now();
        let mut positions = Vec::new();
        for room in rooms.iter().filter(|room| self.policy.recovers(room)) {
            let stream = streams.lock(room);
            let mut stream = stream.lock();
            stream.touch(now);
            positions.push((room.clone(), stream.current()));
        }
        if let (Some(token), true) = (meta.resume_token, token_kept) {
            let rooms = without_user_room(rooms.into_iter(), meta.user.as_deref());
            self.departed.keep(token, meta.user, rooms, positions, trail);
        }
    }

    /// The session under `token`: a departed one, or a connection still
    /// registered with it, which the gateway has not seen die yet (a phone
    /// that switched networks comes back before its old link times out).
    /// That one is disconnected, and its rooms are taken over.
    pub(crate) fn take_departed_session(&self, token: &str, user: Option<&str>) -> Option<DepartedSession> {
        let ttl = self.streams.as_ref()?.limits.ttl;
        if let Some(departed) = self.departed.take(token, ttl, user) {
            return Some(DepartedSession {
                user: departed.user,
                rooms: departed.rooms,
                positions: departed.positions,
                trail: departed.trail,
            });
        }
        let old = *self.tokens.get(token)?;
        let snapshot = self.connection(old)?;
        if snapshot.meta.user.as_deref() != user {
            return None;
        }
        self.tokens.remove(token);
        let trail = self
            .conns
            .get(&old)
            .map(|conn| conn.recipient.trail())
            .unwrap_or_default();
        sockgate_core::ServerBus::kick(self, sockgate_core::Who::Sid(old));
        let user = snapshot.meta.user;
        let rooms = without_user_room(snapshot.rooms.into_iter(), user.as_deref());
        Some(DepartedSession {
            positions: self.positions_of(&rooms),
            rooms,
            user,
            trail,
        })
    }

    /// Resumes `sid` in `room` from this node's copy of the room's
    /// history, joined and replayed under the stream's lock.
    pub(crate) fn resume_here(
        &self,
        sid: Sid,
        room: &str,
        from: Option<&Position>,
        trusted: bool,
        max_events: usize,
    ) -> Result<Resumed> {
        let name = self.resume_room_name(room, trusted)?;
        let Some(streams) = self.streams.as_ref().filter(|_| self.policy.recovers(&name)) else {
            self.rejoin(sid, room, &name, trusted)?;
            return Ok(match from {
                Some(_) => Resumed::Gap(GapReason::NotRecoverable),
                None => Resumed::Replayed(0),
            });
        };
        // Joined and replayed under the stream's lock: no publish to the
        // room falls between the replay and the live events.
        let stream = streams.lock(&name);
        let mut stream = stream.lock();
        self.rejoin(sid, room, &name, trusted)?;
        let Some(from) = from else {
            return Ok(Resumed::Replayed(0));
        };
        let missed = match stream.after(from, streams.limits, Instant::now()) {
            Ok(missed) if missed.len() > max_events => return Ok(Resumed::Gap(GapReason::TooOld)),
            Ok(missed) => missed,
            Err(gap) => return Ok(Resumed::Gap(gap)),
        };
        let recipient = self
            .conns
            .get(&sid)
            .map(|conn| conn.recipient.clone())
            .ok_or(BusError::UnknownConnection)?;
        for envelope in &missed {
            recipient.offer(envelope);
        }
        Ok(Resumed::Replayed(missed.len()))
    }

    /// The room a resume names: any valid room for the connection's own
    /// past rooms (`trusted`), a room a client may use otherwise.
    fn resume_room_name(&self, room: &str, trusted: bool) -> Result<RoomName> {
        match trusted {
            true => Ok(self.policy.name(room)?),
            false => self.client_room(room),
        }
    }

    /// Puts `sid` back in the room: as it was (`trusted`), or as a join
    /// under the room policy.
    fn rejoin(&self, sid: Sid, room: &str, name: &RoomName, trusted: bool) -> Result<()> {
        match trusted {
            true => self.add_member(sid, name),
            false => self.join_room(sid, room).map(drop),
        }
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
