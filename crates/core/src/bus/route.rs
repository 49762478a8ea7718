//! How the bus reaches a connection: one by one through its own queue
//! ([`Recipient`]), or through a front that fans out itself ([`GroupOutlet`]).
//!
//! Two kinds of route exist because the two protocols fan out differently:
//! a raw WebSocket connection takes each envelope into its own bounded
//! queue; a socket.io namespace gets one call per emit for all its members
//! and encodes once for them.

use std::sync::Arc;

use crate::{Envelope, Position, RoomName, Sid};

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
    /// The recoverable events it was sent last, oldest first, kept with its
    /// departed session (see [`DepartedSession::trail`](crate::DepartedSession::trail)).
    /// Only recipients whose clients resume from one offset keep one.
    fn trail(&self) -> Vec<(RoomName, Position)> {
        Vec::new()
    }
}

/// Which of a group outlet's members an emit is for.
#[derive(Debug, Clone, Copy)]
pub enum GroupTarget<'a> {
    /// Members of any of `rooms`, each reached once, but for members of
    /// any of `besides`: an emit to several rooms reaches those through
    /// another copy (see [`ServerBus::emit`](crate::ServerBus::emit)).
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
