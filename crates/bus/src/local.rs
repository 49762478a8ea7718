//! [`LocalBus`]: the bus of one node, in process: both of its faces
//! ([`ClientBus`], [`ServerBus`]) and, when some rooms keep a history,
//! [`Recovery`] (whose workings are `crate::recovery`'s).
//!
//! Two sharded maps hold the state: `rooms` (room → members) and `conns`
//! (connection → its recipient, metadata and rooms). Lock order is always
//! `conns` shard first, then `rooms` shard; delivery to a room touches only
//! that room's shard, with a read lock, so publishes to different rooms never
//! contend and publishes to the same room run in parallel.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use sockgate_core::{
    is_reserved_event, user_room, Added, Args, BusError, BusFuture, ClientBus, ConnMeta, ConnRecord,
    ConnSnapshot, DepartedSession, Directory, DirectoryFuture, Envelope, Heard, Joined, Offer, PayloadLimits,
    Position, Recipient, Recovery, Rejoined, Result, RoomName, RoomPolicy, ServerBus, Sid, Target, Who,
    USER_ROOM_PREFIX,
};

use crate::metrics::Metrics;
use crate::recovery::departed::DepartedSessions;
use crate::recovery::resume::Resuming;
use crate::recovery::streams::{HistoryLimits, Streams};
use crate::room::Room;

/// Limits the bus enforces on every publish, whatever the protocol.
#[derive(Debug, Clone)]
pub struct BusLimits {
    /// Longest accepted event name in bytes (`limits.max_event_name_bytes`).
    pub max_event_name_bytes: usize,
    /// Rooms a client may join itself (`limits.max_rooms_per_connection`);
    /// rooms the backend or the gateway adds do not count against it.
    pub max_rooms_per_connection: usize,
    /// How deep payloads may nest and how many binary attachments they may
    /// carry (`limits.max_payload_depth`, `limits.max_binary_attachments`).
    pub payload: PayloadLimits,
}

impl Default for BusLimits {
    fn default() -> Self {
        BusLimits {
            max_event_name_bytes: 128,
            max_rooms_per_connection: 100,
            payload: PayloadLimits::default(),
        }
    }
}

pub(crate) struct Conn {
    pub(crate) recipient: Arc<dyn Recipient>,
    pub(crate) meta: ConnMeta,
    pub(crate) rooms: HashSet<RoomName>,
}

/// The in-process room registry and fan-out shared by both protocol fronts.
pub struct LocalBus {
    pub(crate) policy: RoomPolicy,
    limits: BusLimits,
    pub(crate) rooms: DashMap<RoomName, Room>,
    pub(crate) conns: DashMap<Sid, Conn>,
    pub(crate) metrics: Metrics,
    /// Histories of recoverable rooms, when `rooms.recover` names any.
    pub(crate) streams: Option<Streams>,
    pub(crate) departed: DepartedSessions,
    /// Resume token → the live connection that holds it.
    pub(crate) tokens: DashMap<Arc<str>, Sid>,
    /// Members resuming from a history fetched elsewhere, by room: a
    /// publish looks at its own room's only.
    pub(crate) held: DashMap<RoomName, HashMap<Sid, Resuming>>,
}

/// An emit another node (or a cluster's Redis) sent, for this node's
/// members: what a cluster bus hands its local bus through
/// [`LocalBus::deliver`].
#[derive(Debug)]
pub struct Delivery<'a> {
    /// Who it is for.
    pub target: Target<'a>,
    /// Connections to skip.
    pub except: &'a [Sid],
    /// Rooms whose members another copy of the same emit reaches.
    pub besides: &'a [String],
    /// The event name.
    pub event: &'a str,
    /// Its arguments.
    pub args: Args,
    /// Whether and where it is numbered in its room's stream.
    pub numbering: Numbering,
}

/// Whether a [`Delivery`] is numbered in a room's stream (recovery).
#[derive(Debug)]
pub enum Numbering {
    /// As a local emit: rooms that keep a history number it here.
    Here,
    /// A cluster's Redis numbered it at this position, in the one room of
    /// the target: kept in this node's copy of the history.
    At(Position),
    /// Never: every node of a cluster gets it on its own (a Node backend's
    /// `@socket.io/redis-emitter`), so no one numbering covers it, or it is
    /// the plain copy of an emit whose numbered copies travel apart.
    /// Members get it live only.
    Never,
}

/// How many deliveries one emit made.
#[derive(Default)]
pub(crate) struct Delivered {
    pub(crate) queued: u64,
    pub(crate) slow: u64,
}

impl Delivered {
    pub(crate) fn count(&mut self, offer: Offer) {
        match offer {
            Offer::Queued => self.queued += 1,
            Offer::Full => self.slow += 1,
            Offer::Closed => {}
        }
    }
}

impl LocalBus {
    /// A bus with the given room policy.
    pub fn new(policy: RoomPolicy, limits: BusLimits) -> Self {
        LocalBus {
            policy,
            limits,
            rooms: DashMap::new(),
            conns: DashMap::new(),
            metrics: Metrics::default(),
            streams: None,
            departed: DepartedSessions::default(),
            tokens: DashMap::new(),
            held: DashMap::new(),
        }
    }

    /// Keeps a history of `limits` for the rooms the policy recovers.
    pub fn with_history(mut self, limits: HistoryLimits) -> Self {
        self.streams = self.policy.recovers_any().then(|| Streams::new(limits));
        self
    }

    /// The room policy (room names, joins, publishes, recovery).
    pub fn policy(&self) -> &RoomPolicy {
        &self.policy
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

    /// Local connections per protocol: (raw, socket.io).
    pub fn connections_by_protocol(&self) -> (usize, usize) {
        self.conns
            .iter()
            .fold((0, 0), |(raw, sio), conn| match conn.meta.protocol {
                sockgate_core::Protocol::Raw => (raw + 1, sio),
                sockgate_core::Protocol::SocketIo => (raw, sio + 1),
            })
    }

    /// Every room with its member count, sorted by name.
    pub fn rooms(&self) -> Vec<(RoomName, usize)> {
        let mut rooms: Vec<_> = self.rooms.iter().map(|r| (r.key().clone(), r.len())).collect();
        rooms.sort_by(|a, b| a.0.cmp(&b.0));
        rooms
    }

    /// Up to `limit` connections, newest first (for the admin dashboard):
    /// one pass keeping the newest `limit`, then a snapshot of only those.
    pub fn newest_connections(&self, limit: usize) -> Vec<ConnSnapshot> {
        use std::cmp::Reverse;
        let mut newest = std::collections::BinaryHeap::with_capacity(limit + 1);
        for conn in self.conns.iter() {
            newest.push(Reverse((conn.meta.connected_at, *conn.key())));
            if newest.len() > limit {
                newest.pop();
            }
        }
        let mut newest: Vec<_> = newest.into_iter().map(|Reverse(entry)| entry).collect();
        newest.sort_by(|a, b| b.cmp(a));
        newest
            .into_iter()
            .filter_map(|(_, sid)| self.connection(sid))
            .collect()
    }

    /// Every connection's state (for resynchronising a cluster directory).
    pub fn connections(&self) -> Vec<ConnSnapshot> {
        let sids: Vec<Sid> = self.conns.iter().map(|conn| *conn.key()).collect();
        sids.into_iter().filter_map(|sid| self.connection(sid)).collect()
    }

    /// Checks an event's name and payload against `limits`, whatever
    /// published it (a client, the API, a webhook answer, an emitter).
    pub fn check_event(&self, event: &str, args: &Args) -> Result<()> {
        // A control character (a newline, say) has no place in a name and
        // breaks logs and line-based consumers of the webhooks.
        let bad_char = event.chars().any(char::is_control);
        if event.is_empty() || event.len() > self.limits.max_event_name_bytes || bad_char {
            return Err(BusError::InvalidEvent {
                max: self.limits.max_event_name_bytes,
            });
        }
        if is_reserved_event(event) {
            return Err(BusError::ReservedEvent(event.to_owned()));
        }
        args.check(self.limits.payload)?;
        Ok(())
    }

    /// A room name a client may use: valid and not gateway-managed.
    pub(crate) fn client_room(&self, room: &str) -> Result<RoomName> {
        let room = self.policy.name(room)?;
        if room.as_str().starts_with(USER_ROOM_PREFIX) {
            return Err(BusError::ReservedRoom(room.to_string()));
        }
        Ok(room)
    }

    /// Adds a registered connection to a room (no policy check).
    pub(crate) fn add_member(&self, sid: Sid, room: &RoomName) -> Result<()> {
        let mut conn = self.conns.get_mut(&sid).ok_or(BusError::UnknownConnection)?;
        if conn.rooms.insert(room.clone()) {
            self.rooms
                .entry(room.clone())
                .or_default()
                .insert(sid, &conn.recipient);
        }
        Ok(())
    }

    /// Removes a registered connection from a room (no policy check).
    fn remove_member(&self, sid: Sid, room: &RoomName) -> Result<()> {
        let mut conn = self.conns.get_mut(&sid).ok_or(BusError::UnknownConnection)?;
        if conn.rooms.remove(room) {
            drop_from_room(&self.rooms, room, sid);
        }
        Ok(())
    }

    /// Applies `change` to every connection `who` names and every room;
    /// returns how many connections it reached. An unknown sid is an error,
    /// a user without connections is not.
    fn change_rooms(
        &self,
        who: Who<'_>,
        rooms: &[String],
        change: fn(&Self, Sid, &RoomName) -> Result<()>,
    ) -> Result<usize> {
        let rooms = rooms
            .iter()
            .map(|r| self.policy.name(r))
            .collect::<Result<Vec<_>, _>>()?;
        let reached = self
            .resolve(who)
            .into_iter()
            .filter(|&sid| rooms.iter().all(|room| change(self, sid, room).is_ok()))
            .count();
        if reached == 0 && matches!(who, Who::Sid(_)) {
            return Err(BusError::UnknownConnection);
        }
        Ok(reached)
    }

    /// The connections `who` names.
    fn resolve(&self, who: Who<'_>) -> Vec<Sid> {
        match who {
            Who::Sid(sid) => vec![sid],
            Who::User(user) => self.members(&user_room(user)),
        }
    }

    /// Delivers an emit another node (or a cluster's Redis) sent to this
    /// node's members, after the same checks as any emit: the seam through
    /// which a cluster bus delivers.
    pub fn deliver(&self, delivery: Delivery<'_>) -> Result<()> {
        let Delivery {
            target,
            except,
            besides,
            event,
            args,
            numbering,
        } = delivery;
        self.check_event(event, &args)?;
        let besides = self.names(besides)?;
        match (numbering, target) {
            (Numbering::At(position), Target::Rooms([room])) => {
                let room = self.policy.name(room)?;
                if self.recovers(&room) {
                    self.deliver_numbered(&room, except, &besides, event, args, Some(position));
                }
            }
            (Numbering::At(_), _) => {}
            (Numbering::Never, Target::Rooms(rooms)) => {
                self.fan_out(&self.names(rooms)?, except, &besides, event, args, false);
            }
            (_, Target::Rooms(rooms)) => {
                self.fan_out(&self.names(rooms)?, except, &besides, event, args, true);
            }
            (_, target) => self.emit_checked(target, except, event, args)?,
        }
        Ok(())
    }

    /// The rooms `names` name, under the policy's naming rules.
    fn names(&self, names: &[String]) -> Result<Vec<RoomName>> {
        names.iter().map(|name| Ok(self.policy.name(name)?)).collect()
    }

    /// Delivers one event to the members of `rooms`, each member once, but
    /// for members of `besides` (another copy reaches them). With
    /// `numbered`, rooms that keep a history number and keep it, each
    /// under its own stream lock, and a member gets the copy of the first
    /// of them it is in (so its position there moves on); members of none
    /// get one plain copy.
    fn fan_out(
        &self,
        rooms: &[RoomName],
        except: &[Sid],
        besides: &[RoomName],
        event: &str,
        args: Args,
        numbered: bool,
    ) {
        // One room, the common case: no split, no allocation.
        if let [room] = rooms {
            match numbered && self.recovers(room) {
                true => self.deliver_numbered(room, except, besides, event, args, None),
                false => self.deliver_plain(rooms, except, besides, event, args),
            }
            return;
        }
        let (streamed, plain): (Vec<RoomName>, Vec<RoomName>) = rooms
            .iter()
            .cloned()
            .partition(|room| numbered && self.recovers(room));
        let mut args = Some(args);
        for (index, room) in streamed.iter().enumerate() {
            let payload = match plain.is_empty() && index + 1 == streamed.len() {
                true => args.take(),
                false => args.clone(),
            };
            let reached_otherwise = [besides, &streamed[..index]].concat();
            if let Some(payload) = payload {
                self.deliver_numbered(room, except, &reached_otherwise, event, payload, None);
            }
        }
        if let Some(args) = args.filter(|_| !plain.is_empty()) {
            self.deliver_plain(&plain, except, &[besides, &streamed].concat(), event, args);
        }
    }

    /// Delivers one plain (unnumbered) copy to the members of `rooms`, each
    /// once, but for members of `besides`, which another copy reaches.
    fn deliver_plain(
        &self,
        rooms: &[RoomName],
        except: &[Sid],
        besides: &[RoomName],
        event: &str,
        args: Args,
    ) {
        let mut args = Some(args);
        let mut delivered = Delivered::default();
        // Only an emit to several rooms can reach a connection twice.
        let mut seen = self.members_of(besides);
        if rooms.len() > 1 {
            seen.get_or_insert_with(HashSet::new);
        }
        for (index, room) in rooms.iter().enumerate() {
            let Some(members) = self.rooms.get(room) else {
                continue;
            };
            // Raw frames name their room, so each room gets its own envelope;
            // only an emit to several rooms pays for copying the payload.
            let payload = match index + 1 == rooms.len() {
                true => args.take(),
                false => args.clone(),
            };
            let Some(payload) = payload else { break };
            let envelope = Arc::new(Envelope::new(Some(room.clone()), event.into(), payload));
            for (sid, recipient) in &members.members {
                if except.contains(sid) || seen.as_mut().is_some_and(|seen| !seen.insert(*sid)) {
                    continue;
                }
                delivered.count(recipient.offer(&envelope));
            }
        }
        self.metrics.published(delivered.queued, delivered.slow);
    }

    /// The members of `rooms`, when there are rooms to ask about: those an
    /// emit's other copies reach.
    pub(crate) fn members_of(&self, rooms: &[RoomName]) -> Option<HashSet<Sid>> {
        if rooms.is_empty() {
            return None;
        }
        let mut sids = HashSet::new();
        for room in rooms {
            if let Some(members) = self.rooms.get(room) {
                sids.extend(members.sids());
            }
        }
        Some(sids)
    }
}

impl LocalBus {
    /// Registers a connection in the rooms it starts in (see
    /// [`ClientBus::connect`]).
    fn register(&self, sid: Sid, recipient: Arc<dyn Recipient>, meta: ConnMeta, rooms: &[String]) {
        let user = meta.user.clone();
        if let Some(token) = &meta.resume_token {
            self.tokens.insert(token.clone(), sid);
        }
        self.conns.insert(
            sid,
            Conn {
                recipient,
                meta,
                rooms: HashSet::new(),
            },
        );
        if let Some(user) = user {
            if let Ok(room) = self.policy.name(&user_room(&user)) {
                let _ = self.add_member(sid, &room);
            }
        }
        if !rooms.is_empty() {
            let _ = self.change_rooms(Who::Sid(sid), rooms, Self::add_member);
        }
    }

    /// A client joins a room under the room policy (see [`ClientBus::join`]).
    pub(crate) fn join_room(&self, sid: Sid, room: &str) -> Result<RoomName> {
        let room = self.client_room(room)?;
        if !self.policy.may_join(&room) {
            return Err(BusError::JoinForbidden(room.to_string()));
        }
        let rooms = self.conns.get(&sid).map_or(0, |conn| conn.rooms.len());
        let max = self.limits.max_rooms_per_connection;
        if rooms >= max
            && !self
                .conns
                .get(&sid)
                .is_some_and(|conn| conn.rooms.contains(&room))
        {
            return Err(BusError::TooManyRooms(max));
        }
        self.add_member(sid, &room)?;
        Ok(room)
    }

    /// The members of a room on this node, sorted (empty if it has none here).
    pub fn members(&self, room: &str) -> Vec<Sid> {
        let mut sids: Vec<Sid> = self
            .rooms
            .get(room)
            .map(|r| r.sids().collect())
            .unwrap_or_default();
        sids.sort();
        sids
    }

    /// One connection's state, if it is connected to this node.
    pub fn connection(&self, sid: Sid) -> Option<ConnSnapshot> {
        let conn = self.conns.get(&sid)?;
        let rooms: BTreeSet<RoomName> = conn.rooms.iter().cloned().collect();
        Some(ConnSnapshot {
            sid,
            meta: conn.meta.clone(),
            rooms: rooms.into_iter().collect(),
        })
    }

    /// Checks a client's publish as [`ClientBus::publish`] would, without
    /// delivering it (a cluster numbers it first).
    pub fn check_publish(&self, room: &str, event: &str, args: &Args) -> Result<RoomName> {
        let room = self.client_room(room)?;
        if !self.policy.may_publish(&room) {
            return Err(BusError::PublishForbidden(room.to_string()));
        }
        self.check_event(event, args)?;
        Ok(room)
    }

    /// [`ServerBus::emit`] of an event already checked.
    fn emit_checked(&self, target: Target<'_>, except: &[Sid], event: &str, args: Args) -> Result<()> {
        match target {
            Target::Rooms(names) => {
                self.fan_out(&self.names(names)?, except, &[], event, args, true);
            }
            Target::User(user) => {
                let room = self.policy.name(&user_room(user))?;
                self.fan_out(std::slice::from_ref(&room), except, &[], event, args, true);
            }
            Target::Sid(sid) => {
                if except.contains(&sid) {
                    return Ok(());
                }
                let recipient = self
                    .conns
                    .get(&sid)
                    .ok_or(BusError::UnknownConnection)?
                    .recipient
                    .clone();
                let envelope = Arc::new(Envelope::new(None, event.into(), args));
                let mut delivered = Delivered::default();
                delivered.count(recipient.offer(&envelope));
                self.metrics.published(delivered.queued, delivered.slow);
            }
            Target::All => {
                let envelope = Arc::new(Envelope::new(None, event.into(), args));
                let mut delivered = Delivered::default();
                for conn in self.conns.iter() {
                    if !except.contains(conn.key()) {
                        delivered.count(conn.recipient.offer(&envelope));
                    }
                }
                self.metrics.published(delivered.queued, delivered.slow);
            }
        }
        Ok(())
    }
}

impl ClientBus for LocalBus {
    fn connect(&self, sid: Sid, recipient: Arc<dyn Recipient>, meta: ConnMeta, rooms: &[String]) -> Heard {
        self.register(sid, recipient, meta, rooms);
        Heard::now()
    }

    fn disconnect(&self, sid: Sid) {
        let Some((_, conn)) = self.conns.remove(&sid) else {
            return;
        };
        for room in &conn.rooms {
            drop_from_room(&self.rooms, room, sid);
            self.forget_resuming(sid, room);
        }
        // A token a newer connection took over is not kept again.
        let token_kept = conn
            .meta
            .resume_token
            .as_ref()
            .is_some_and(|token| self.tokens.remove_if(token, |_, owner| *owner == sid).is_some());
        let trail = match token_kept {
            true => conn.recipient.trail(),
            false => Vec::new(),
        };
        self.on_departure(conn.meta, conn.rooms, token_kept, trail);
    }

    fn join(&self, sid: Sid, room: &str) -> Result<Joined> {
        let room = self.join_room(sid, room)?;
        Ok(Joined {
            room,
            heard: Heard::now(),
        })
    }

    fn leave(&self, sid: Sid, room: &str) -> Result<RoomName> {
        let room = self.client_room(room)?;
        self.remove_member(sid, &room)?;
        Ok(room)
    }

    fn publish(&self, sender: Option<Sid>, room: &str, event: &str, args: Args) -> Result<()> {
        let room = self.check_publish(room, event, &args)?;
        let except: &[Sid] = match &sender {
            Some(sid) => std::slice::from_ref(sid),
            None => &[],
        };
        self.fan_out(std::slice::from_ref(&room), except, &[], event, args, true);
        Ok(())
    }

    fn connection(&self, sid: Sid) -> Option<ConnSnapshot> {
        LocalBus::connection(self, sid)
    }

    fn recovery(&self) -> Option<&dyn Recovery> {
        self.streams.as_ref().map(|_| self as &dyn Recovery)
    }
}

impl ServerBus for LocalBus {
    fn emit(&self, target: Target<'_>, except: &[Sid], event: &str, args: Args) -> Result<()> {
        self.check_event(event, &args)?;
        self.emit_checked(target, except, event, args)
    }

    fn add_rooms(&self, who: Who<'_>, rooms: &[String]) -> Result<Added> {
        let connections = self.change_rooms(who, rooms, Self::add_member)?;
        Ok(Added {
            connections,
            heard: Heard::now(),
        })
    }

    fn remove_rooms(&self, who: Who<'_>, rooms: &[String]) -> Result<usize> {
        self.change_rooms(who, rooms, Self::remove_member)
    }

    fn kick(&self, who: Who<'_>) -> usize {
        let mut kicked = 0;
        for sid in self.resolve(who) {
            let Some((recipient, token)) = self
                .conns
                .get(&sid)
                .map(|conn| (conn.recipient.clone(), conn.meta.resume_token.clone()))
            else {
                continue;
            };
            // Disconnected on purpose: its rooms are not kept for a resume.
            if let Some(token) = token {
                self.tokens.remove_if(&token, |_, owner| *owner == sid);
            }
            recipient.disconnect();
            kicked += 1;
        }
        kicked
    }

    fn members(&self, room: &str) -> Vec<Sid> {
        LocalBus::members(self, room)
    }

    fn connection(&self, sid: Sid) -> Option<ConnSnapshot> {
        LocalBus::connection(self, sid)
    }
}

impl Recovery for LocalBus {
    fn take_departed<'a>(
        &'a self,
        token: &'a str,
        user: Option<&'a str>,
    ) -> BusFuture<'a, Option<DepartedSession>> {
        Box::pin(std::future::ready(self.take_departed_session(token, user)))
    }

    fn resume_room<'a>(
        &'a self,
        sid: Sid,
        room: &'a str,
        from: Option<&'a Position>,
        trusted: bool,
        max_events: usize,
    ) -> BusFuture<'a, Result<Rejoined>> {
        Box::pin(async move {
            let no_fetch = None::<
                crate::Elsewhere<fn(RoomName, Position) -> std::future::Ready<Option<crate::FetchedHistory>>>,
            >;
            let outcome = self
                .resume_room_with(sid, room, from, trusted, max_events, no_fetch)
                .await?;
            Ok(Rejoined {
                outcome,
                heard: Heard::now(),
            })
        })
    }

    fn max_replay(&self) -> usize {
        self.streams.as_ref().map_or(0, |s| s.limits.max_replay)
    }
}

/// Removes `sid` from `room`, dropping the room when it becomes empty; both
/// happen under one shard lock so a concurrent join cannot be lost.
fn drop_from_room(rooms: &DashMap<RoomName, Room>, room: &RoomName, sid: Sid) {
    if let Entry::Occupied(mut entry) = rooms.entry(room.clone()) {
        entry.get_mut().remove(sid);
        if entry.get().is_empty() {
            entry.remove();
        }
    }
}

#[cfg(test)]
mod tests;

impl Directory for LocalBus {
    fn room_counts(&self) -> DirectoryFuture<'_, Vec<(String, usize)>> {
        let rooms = LocalBus::rooms(self)
            .into_iter()
            .map(|(room, count)| (room.to_string(), count))
            .collect();
        Box::pin(std::future::ready(rooms))
    }

    fn room_members<'a>(&'a self, room: &'a str) -> DirectoryFuture<'a, Vec<Sid>> {
        Box::pin(std::future::ready(LocalBus::members(self, room)))
    }

    fn find_connection(&self, sid: Sid) -> DirectoryFuture<'_, Option<ConnRecord>> {
        let record = self.connection(sid).map(|snapshot| ConnRecord::from(&snapshot));
        Box::pin(std::future::ready(record))
    }
}
