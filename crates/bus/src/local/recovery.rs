//! [`LocalBus`]'s part of missed-message recovery: publishing to rooms that
//! keep a history, keeping the rooms of departed connections, and resuming.
//! The stream store itself is `crate::stream`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use sockgate_core::{
    Args, BusError, ConnMeta, DepartedSession, Envelope, GapReason, GroupTarget, Position, Result, Resumed,
    RoomName, Route, Sid,
};

use super::{Delivered, LocalBus};
use crate::stream::HistoryLimits;

/// Live events held for one resuming member at most; past it, the
/// resume's own replay is what the client gets.
const HELD_MAX: usize = 10_000;

/// A room's history as read from a cluster's Redis, for a resume.
#[derive(Debug)]
pub struct FetchedHistory {
    /// The history's epoch.
    pub epoch: Arc<str>,
    /// Its kept events (those after the client's position at least), oldest first.
    pub events: Vec<HistoryEvent>,
}

/// One event of a [`FetchedHistory`].
#[derive(Debug)]
pub struct HistoryEvent {
    /// Its offset.
    pub offset: u64,
    /// Its event name.
    pub event: String,
    /// Its payload.
    pub args: Args,
}

/// A member resuming from a cluster's history, in one of its rooms.
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
    /// Whether `room` keeps a history.
    pub(super) fn recovers(&self, room: &RoomName) -> bool {
        self.streams.is_some() && self.policy.recovers(room)
    }

    /// Numbers the event, keeps it, and offers it to the room's members,
    /// all under the room stream's lock, so that every member gets the
    /// room's events in offset order.
    /// Members of `besides` are left out: another copy of the same emit
    /// reaches them.
    pub(super) fn deliver_recoverable(
        &self,
        room: &RoomName,
        except: &[Sid],
        besides: &[RoomName],
        event: &str,
        args: Args,
    ) {
        let Some(streams) = &self.streams else {
            return;
        };
        let stream = streams.lock(room);
        let mut stream = stream.lock();
        let envelope = Envelope::new(Some(room.clone()), event.into(), args);
        let envelope = stream.append(envelope, streams.limits, Instant::now());
        self.offer_to_room(room, except, besides, &envelope);
    }

    /// Delivers an event a cluster's Redis numbered (see `docs/recovery.md`),
    /// keeping it in this node's copy of the room's history; an event
    /// already delivered is dropped. Members of `besides` are left out:
    /// another copy of the same emit reaches them.
    pub fn deliver_at(
        &self,
        room: &str,
        except: &[Sid],
        besides: &[RoomName],
        event: &str,
        args: Args,
        position: Position,
    ) {
        let (Some(streams), Ok(room)) = (&self.streams, self.policy.name(room)) else {
            return;
        };
        let stream = streams.lock(&room);
        let mut stream = stream.lock();
        let envelope = Envelope::new(Some(room.clone()), event.into(), args);
        if let Some(envelope) = stream.append_at(envelope, position, streams.limits, Instant::now()) {
            self.offer_to_room(&room, except, besides, &envelope);
        }
    }

    /// Offers a numbered event to the room's members (the caller holds the
    /// room stream's lock); members resuming from elsewhere get it later.
    fn offer_to_room(&self, room: &RoomName, except: &[Sid], besides: &[RoomName], envelope: &Arc<Envelope>) {
        let held = self.held_in(room, envelope);
        let except: std::borrow::Cow<'_, [Sid]> = match held.is_empty() {
            true => except.into(),
            false => [except, &held].concat().into(),
        };
        let reached_otherwise = self.members_of(besides);
        let mut delivered = Delivered::default();
        let mut groups = Vec::new();
        if let Some(members) = self.rooms.get(room) {
            for (sid, recipient) in &members.direct {
                let skip =
                    except.contains(sid) || reached_otherwise.as_ref().is_some_and(|r| r.contains(sid));
                if !skip {
                    delivered.count(recipient.offer(envelope));
                }
            }
            members.groups_to_reach(&except, &mut groups);
        }
        for group in &groups {
            let rooms = std::slice::from_ref(room);
            let target = GroupTarget::Rooms { rooms, besides };
            self.groups[group.0].deliver(target, &except, envelope);
        }
        self.metrics
            .published(delivered.queued, groups.len() as u64, delivered.slow);
    }

    /// Members of `room` that must not get `envelope` now: those whose
    /// live events are held while their missed ones are fetched (it is kept
    /// for them), and those that got it already from a resume's replay.
    fn held_in(&self, room: &RoomName, envelope: &Arc<Envelope>) -> Vec<Sid> {
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
    pub(super) fn forget_resuming(&self, sid: Sid, room: &RoomName) -> Option<Resuming> {
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

    /// The history limits, when some rooms keep a history.
    pub fn history_limits(&self) -> Option<HistoryLimits> {
        self.streams.as_ref().map(|s| s.limits)
    }

    /// The room policy (room names, joins, publishes, recovery).
    pub fn policy(&self) -> &sockgate_core::RoomPolicy {
        &self.policy
    }

    /// What this node kept of the departed connection that had `token`
    /// (left in place), for a cluster to keep it in Redis too.
    pub fn departed_session(&self, token: &str) -> Option<DepartedSession> {
        self.departed.peek(token).map(|departed| DepartedSession {
            user: departed.user,
            rooms: departed.rooms,
            positions: departed.positions,
        })
    }

    /// Whether `room` keeps a history (`rooms.recover`).
    pub fn recovers_room(&self, room: &str) -> bool {
        // On every publish of a cluster: no allocation, nothing when off.
        self.streams.is_some() && self.policy.recovers_name(room)
    }

    /// Checks a client's publish as [`Bus::publish`](sockgate_core::Bus::publish)
    /// would, without delivering it (a cluster numbers it first).
    pub fn check_publish(&self, room: &str, event: &str, args: &Args) -> Result<RoomName> {
        let room = self.client_room(room)?;
        if !self.policy.may_publish(&room) {
            return Err(BusError::PublishForbidden(room.to_string()));
        }
        self.check_event(event, args)?;
        Ok(room)
    }

    /// Whether this node's copy of the room's history can serve a resume
    /// from `from` by itself.
    pub fn covers(&self, room: &str, from: &Position) -> bool {
        let (Some(streams), Ok(room)) = (&self.streams, self.policy.name(room)) else {
            return false;
        };
        let stream = streams.lock(&room);
        let mut stream = stream.lock();
        stream.after(from, streams.limits, Instant::now()).is_ok()
    }

    /// First half of a resume served from elsewhere: joins `sid` to `room`
    /// with its live events held back until [`LocalBus::finish_resume`].
    pub fn start_resume(&self, sid: Sid, room: &str, trusted: bool) -> Result<RoomName> {
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
    pub fn finish_resume(
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
        let Some(route) = self.conns.get(&sid).map(|conn| conn.route.clone()) else {
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
                        self.replay_to(sid, &route, &Arc::new(envelope.with_position(position)));
                    }
                    (Resumed::Replayed(count), last)
                }
            }
            _ => (Resumed::Gap(GapReason::EpochChanged), 0),
        };
        // The live events held meanwhile follow, but those just replayed.
        for envelope in &held {
            if offset_of(envelope) > last {
                self.replay_to(sid, &route, envelope);
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

    /// A connection went away: its recoverable rooms' streams are kept at
    /// least another ttl, and its rooms under its resume token.
    pub(super) fn on_departure(&self, meta: ConnMeta, rooms: HashSet<RoomName>, token_kept: bool) {
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
            self.departed.keep(token, meta.user, rooms, positions);
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
                positions: departed.positions,
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
        let rooms = without_user_room(snapshot.rooms.into_iter(), user.as_deref());
        Some(DepartedSession {
            positions: self.positions_of(&rooms),
            rooms,
            user,
        })
    }

    pub(super) fn resume_room(
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
            false => sockgate_core::Bus::join(self, sid, room).map(drop),
        }
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
