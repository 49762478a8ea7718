//! The [`Bus`] trait: the one boundary between protocol fronts, the HTTP
//! API and rooms.
//!
//! A front registers each connection with a [`Route`] saying how messages
//! reach it, then joins, leaves and publishes on its behalf. Two kinds of
//! route exist because the two protocols fan out differently:
//!
//! - a [`Recipient`] gets each envelope individually through its own bounded
//!   queue (raw WebSocket connections);
//! - a [`GroupOutlet`] gets one call per emit for all its members and does
//!   its own encode-once fan-out (socket.io namespaces, whose engine only
//!   offers encode-once delivery through its broadcast operator).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use crate::{Args, DepartedSession, Envelope, Position, Result, Resumed, RoomName, Sid};

/// What happened when the bus offered an envelope to a [`Recipient`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// The envelope is queued for sending.
    Queued,
    /// The recipient's queue is full: it is being disconnected as a slow consumer.
    Full,
    /// The recipient is already closing.
    Closed,
}

/// A connection that takes envelopes one by one into its own bounded queue.
pub trait Recipient: Send + Sync {
    /// Queues the envelope without waiting. A full queue must not block the
    /// caller: the recipient disconnects itself and answers [`Offer::Full`].
    fn offer(&self, envelope: &Arc<Envelope>) -> Offer;
    /// Ends the connection because the server asked to (HTTP API).
    fn disconnect(&self);
}

/// Which of a group outlet's members an emit is for.
#[derive(Debug, Clone, Copy)]
pub enum GroupTarget<'a> {
    /// Members of any of `rooms`, each reached once, but for members of
    /// any of `besides`: an emit to several rooms reaches those through
    /// another copy (see [`Bus::emit`]).
    Rooms {
        /// The rooms whose members get this copy.
        rooms: &'a [RoomName],
        /// Rooms whose members are reached by another copy.
        besides: &'a [RoomName],
    },
    /// Every member.
    All,
    /// One connection.
    One(Sid),
}

/// A front that delivers to many of its members in one call.
pub trait GroupOutlet: Send + Sync {
    /// Delivers `envelope` to the targeted members, except those in `except`.
    fn deliver(&self, target: GroupTarget<'_>, except: &[Sid], envelope: &Arc<Envelope>);
    /// Mirrors a join into the outlet's own delivery index.
    fn on_join(&self, sid: Sid, room: &RoomName);
    /// Mirrors a leave into the outlet's own delivery index.
    fn on_leave(&self, sid: Sid, room: &RoomName);
    /// Ends one member's connection because the server asked to.
    fn disconnect(&self, sid: Sid);
}

/// Index of a [`GroupOutlet`] given to the bus when it was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GroupId(pub usize);

/// How the bus reaches one connection.
#[derive(Clone)]
pub enum Route {
    /// Envelope by envelope, into the connection's own queue.
    Direct(Arc<dyn Recipient>),
    /// Through a group outlet.
    Group(GroupId),
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Route::Direct(_) => f.write_str("Route::Direct"),
            Route::Group(id) => write!(f, "Route::Group({})", id.0),
        }
    }
}

/// The client protocol of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Raw protocol v1 over plain WebSocket.
    Raw,
    /// socket.io (any transport, engine.io v3 or v4).
    SocketIo,
}

impl Protocol {
    /// `"raw"` or `"socket.io"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Raw => "raw",
            Protocol::SocketIo => "socket.io",
        }
    }
}

/// What the bus knows about a connection besides its rooms.
#[derive(Debug, Clone)]
pub struct ConnMeta {
    /// The client protocol.
    pub protocol: Protocol,
    /// The socket.io namespace, for socket.io connections.
    pub namespace: Option<String>,
    /// The authenticated user, if any; the connection is in `user:<id>`.
    pub user: Option<String>,
    /// The client's address as the gateway sees it.
    pub peer: Option<SocketAddr>,
    /// When the connection was accepted.
    pub connected_at: SystemTime,
    /// Backend data from the connect webhook, passed to event webhooks.
    pub metadata: Option<Arc<serde_json::Value>>,
    /// The token under which its rooms are kept when it goes away, when
    /// some rooms keep a history (see [`Bus::resume`]).
    pub resume_token: Option<Arc<str>>,
}

impl ConnMeta {
    /// Metadata for a connection accepted now.
    pub fn new(protocol: Protocol, peer: Option<SocketAddr>) -> Self {
        ConnMeta {
            protocol,
            namespace: None,
            user: None,
            peer,
            connected_at: SystemTime::now(),
            metadata: None,
            resume_token: None,
        }
    }
}

/// A copy of one connection's state.
#[derive(Debug, Clone)]
pub struct ConnSnapshot {
    /// The connection id.
    pub sid: Sid,
    /// Its metadata.
    pub meta: ConnMeta,
    /// The rooms it is in, sorted.
    pub rooms: Vec<RoomName>,
}

/// Who an emit from the server (HTTP API) is for.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// Members of any of these rooms, each reached once.
    Rooms(&'a [String]),
    /// Every connection.
    All,
    /// One connection.
    Sid(Sid),
    /// Every connection of one user (the room `user:<id>`).
    User(&'a str),
}

/// Which connections a server-side join, leave or disconnect is for.
#[derive(Debug, Clone, Copy)]
pub enum Who<'a> {
    /// One connection.
    Sid(Sid),
    /// Every connection of one user.
    User(&'a str),
}

/// The room every connection of user `id` is in.
pub fn user_room(id: &str) -> String {
    format!("{USER_ROOM_PREFIX}{id}")
}

/// Rooms starting with this are managed by the gateway: clients cannot
/// join, leave or publish to them.
pub const USER_ROOM_PREFIX: &str = "user:";

/// Waits until this node [hears](Bus::hears) every room `sid` is in, so
/// that an answer sent after the server put it in rooms means those rooms'
/// events, from any node, reach it.
pub async fn hear_rooms_of(bus: &dyn Bus, sid: Sid) {
    let Some(connection) = bus.connection(sid) else {
        return;
    };
    let unheard: Vec<RoomName> = connection
        .rooms
        .into_iter()
        .filter(|room| !bus.hears(room))
        .collect();
    if !unheard.is_empty() {
        bus.hear(&unheard).await;
    }
}

/// What the bus's few asynchronous methods return.
pub type BusFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// The shared room/event bus seen by every protocol front and the HTTP API.
///
/// All methods are synchronous and never wait on a client: a front may call
/// them from inside its message handlers, and per-sender order is the order
/// of calls.
pub trait Bus: Send + Sync + 'static {
    /// Registers a new connection, how to reach it, and what it is; an
    /// authenticated user's connection joins `user:<id>`.
    fn connect(&self, sid: Sid, route: Route, meta: ConnMeta);
    /// Removes a connection from every room it is in; empty rooms are dropped.
    fn disconnect(&self, sid: Sid);
    /// A client joins a room, subject to the room policy.
    fn join(&self, sid: Sid, room: &str) -> Result<RoomName>;
    /// Whether events published to `room` on other nodes already reach this
    /// node's members: always on a single node; a cluster node hears a room
    /// once it is subscribed to the room's channel.
    fn hears(&self, room: &RoomName) -> bool {
        let _ = room;
        true
    }
    /// Resolves once this node [hears](Bus::hears) every one of `rooms`,
    /// or once trying has failed or timed out, for all of them at once
    /// (local delivery never waits on other nodes). Fronts ack a join only
    /// then, so that a client whose join was acked gets everything
    /// published to the room after the ack, on any node.
    fn hear<'a>(&'a self, rooms: &'a [RoomName]) -> BusFuture<'a, ()> {
        let _ = rooms;
        Box::pin(std::future::ready(()))
    }
    /// A client leaves a room (a no-op if it was not a member).
    fn leave(&self, sid: Sid, room: &str) -> Result<RoomName>;
    /// A client publishes an event to every member of `room` but itself,
    /// subject to the room policy.
    fn publish(&self, sender: Option<Sid>, room: &str, event: &str, args: Args) -> Result<()>;
    /// The server emits an event; room policy does not apply. An emit to
    /// several rooms reaches each connection once: through the first room
    /// of the list that keeps a history and that it is in (numbered there),
    /// otherwise through one plain copy.
    fn emit(&self, target: Target<'_>, except: &[Sid], event: &str, args: Args) -> Result<()>;
    /// The server puts connections in rooms; returns how many connections.
    fn add_rooms(&self, who: Who<'_>, rooms: &[String]) -> Result<usize>;
    /// The server takes connections out of rooms; returns how many connections.
    fn remove_rooms(&self, who: Who<'_>, rooms: &[String]) -> Result<usize>;
    /// The server disconnects connections; returns how many.
    fn kick(&self, who: Who<'_>) -> usize;
    /// The members of a room on this node (empty if it has none here).
    fn members(&self, room: &str) -> Vec<Sid>;
    /// One connection's state, if it is connected to this node.
    fn connection(&self, sid: Sid) -> Option<ConnSnapshot>;
    /// Whether some rooms keep a history (`rooms.recover`); fronts then
    /// give every connection a resume token (`ConnMeta::resume_token`).
    fn recovers(&self) -> bool {
        false
    }
    /// Takes what was kept of the connection that had resume `token`, if
    /// it was `user`'s (once; `None` when unknown, expired or another's).
    fn take_departed(&self, token: &str, user: Option<&str>) -> Option<DepartedSession> {
        let _ = (token, user);
        None
    }
    /// Puts `sid` back in `room` and, given the position of the last event
    /// the client got there, queues the events it missed, in order, before
    /// any live one. `trusted` rooms come from the connection's own past
    /// (its departed session) and skip the room policy; others are joined
    /// as by [`Bus::join`].
    /// At most `max_events` are replayed: a room that missed more is a
    /// `too_old` gap.
    fn resume(
        &self,
        sid: Sid,
        room: &str,
        from: Option<&Position>,
        trusted: bool,
        max_events: usize,
    ) -> Result<Resumed> {
        let _ = (from, trusted, max_events);
        self.join(sid, room).map(|_| Resumed::Replayed(0))
    }
    /// Most missed events one resume replays over all its rooms.
    fn max_replay(&self) -> usize {
        usize::MAX
    }
    /// [`Bus::take_departed`] where the session may be kept elsewhere (a
    /// cluster keeps it in Redis).
    fn take_departed_async<'a>(
        &'a self,
        token: &'a str,
        user: Option<&'a str>,
    ) -> BusFuture<'a, Option<DepartedSession>> {
        Box::pin(std::future::ready(self.take_departed(token, user)))
    }
    /// [`Bus::resume`] where the missed events may have to be fetched (a
    /// cluster reads them from Redis when this node's copy of the history
    /// does not cover them).
    fn resume_async<'a>(
        &'a self,
        sid: Sid,
        room: &'a str,
        from: Option<&'a Position>,
        trusted: bool,
        max_events: usize,
    ) -> BusFuture<'a, Result<Resumed>> {
        Box::pin(std::future::ready(
            self.resume(sid, room, from, trusted, max_events),
        ))
    }
}
