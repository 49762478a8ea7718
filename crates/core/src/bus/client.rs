//! [`ClientBus`]: the bus as the protocol fronts see it.

use std::sync::Arc;

use crate::{Args, ConnMeta, ConnSnapshot, Heard, Recipient, Recovery, Result, RoomName, Sid};

/// A room a client joined, and when it hears the room (see [`Heard`]).
#[derive(Debug)]
pub struct Joined {
    /// The room, as the policy named it.
    pub room: RoomName,
    /// Resolves once the room's events reach the client from every node.
    pub heard: Heard,
}

/// What the protocol fronts do on behalf of their clients.
///
/// The server's own operations (emits to users or everyone, joins on a
/// client's behalf, kicks) are [`ServerBus`](crate::ServerBus)'s; resuming
/// after a drop is [`Recovery`]'s.
pub trait ClientBus: Send + Sync + 'static {
    /// Registers a new connection, the recipient that reaches it and what it is, in the
    /// rooms it starts in: `user:<id>` for an authenticated user, and
    /// `rooms` (those its backend put it in, not subject to the room
    /// policy). Resolves once those rooms are heard.
    fn connect(&self, sid: Sid, recipient: Arc<dyn Recipient>, meta: ConnMeta, rooms: &[String]) -> Heard;
    /// Removes a connection from every room it is in; empty rooms are
    /// dropped. When some rooms keep a history, its rooms are kept under
    /// its resume token (unless it was kicked).
    fn disconnect(&self, sid: Sid);
    /// A client joins a room, subject to the room policy.
    fn join(&self, sid: Sid, room: &str) -> Result<Joined>;
    /// A client leaves a room (a no-op if it was not a member).
    fn leave(&self, sid: Sid, room: &str) -> Result<RoomName>;
    /// A client publishes an event to every member of `room` but itself,
    /// subject to the room policy.
    fn publish(&self, sender: Option<Sid>, room: &str, event: &str, args: Args) -> Result<()>;
    /// One connection's state, if it is connected to this node.
    fn connection(&self, sid: Sid) -> Option<ConnSnapshot>;
    /// Resuming after a drop, when some rooms keep a history
    /// (`rooms.recover`); fronts then give every connection a resume token
    /// (`ConnMeta::resume_token`).
    fn recovery(&self) -> Option<&dyn Recovery>;
}
