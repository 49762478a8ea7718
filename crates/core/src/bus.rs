//! The [`Bus`] trait: the one boundary between protocol fronts and rooms.
//!
//! A front registers each connection with a [`Route`] saying how messages
//! reach it, then joins, leaves and publishes on its behalf. Two kinds of
//! route exist because the two protocols fan out differently:
//!
//! - a [`Recipient`] gets each envelope individually through its own bounded
//!   queue (raw WebSocket connections);
//! - a [`GroupOutlet`] gets one call per publish for all its members in a
//!   room and does its own encode-once fan-out (socket.io namespaces, whose
//!   engine only offers encode-once delivery through its broadcast operator).

use std::sync::Arc;

use serde_json::value::RawValue;

use crate::{Envelope, Result, RoomName, Sid};

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
}

/// A front that delivers to all of its members of a room in one call.
pub trait GroupOutlet: Send + Sync {
    /// Delivers `envelope` to this outlet's members of `room`, except `sender`.
    fn broadcast(&self, room: &RoomName, sender: Option<Sid>, envelope: &Arc<Envelope>);
    /// Mirrors a join into the outlet's own delivery index.
    fn on_join(&self, sid: Sid, room: &RoomName);
    /// Mirrors a leave into the outlet's own delivery index.
    fn on_leave(&self, sid: Sid, room: &RoomName);
}

/// Index of a [`GroupOutlet`] given to the bus when it was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GroupId(pub usize);

/// How the bus reaches one connection.
#[derive(Clone)]
pub enum Route {
    /// Envelope by envelope, into the connection's own queue.
    Direct(Arc<dyn Recipient>),
    /// Through a group outlet's broadcast.
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

/// The shared room/event bus seen by every protocol front.
///
/// All methods are synchronous and never wait on a client: a front may call
/// them from inside its message handlers, and per-sender order is the order
/// of calls.
pub trait Bus: Send + Sync + 'static {
    /// Registers a new connection and how to reach it.
    fn connect(&self, sid: Sid, route: Route);
    /// Removes a connection from every room it is in; empty rooms are dropped.
    fn disconnect(&self, sid: Sid);
    /// Adds the connection to a room, checking the room policy.
    fn join(&self, sid: Sid, room: &str) -> Result<RoomName>;
    /// Removes the connection from a room (a no-op if it was not a member).
    fn leave(&self, sid: Sid, room: &str) -> Result<RoomName>;
    /// Publishes an event to every member of `room` except `sender`.
    fn publish(&self, sender: Option<Sid>, room: &str, event: &str, data: Box<RawValue>) -> Result<()>;
}
