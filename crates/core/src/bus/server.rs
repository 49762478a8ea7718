//! [`ServerBus`]: the bus as the server's API sees it.

use crate::{Args, ConnSnapshot, Heard, Result, Sid};

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

/// Connections the server put in rooms, and when they hear them.
#[derive(Debug)]
pub struct Added {
    /// How many connections.
    pub connections: usize,
    /// Resolves once this node's connections among them hear the rooms
    /// from every node (see [`Heard`]).
    pub heard: Heard,
}

/// What the server does: the HTTP API, a webhook's answer, another node.
/// Room policy does not apply.
pub trait ServerBus: Send + Sync + 'static {
    /// Emits an event. An emit to several rooms reaches each connection
    /// once: through the first room of the list that keeps a history and
    /// that it is in (numbered there), otherwise through one plain copy.
    fn emit(&self, target: Target<'_>, except: &[Sid], event: &str, args: Args) -> Result<()>;
    /// Puts connections in rooms.
    fn add_rooms(&self, who: Who<'_>, rooms: &[String]) -> Result<Added>;
    /// Takes connections out of rooms; returns how many connections.
    fn remove_rooms(&self, who: Who<'_>, rooms: &[String]) -> Result<usize>;
    /// Disconnects connections; their rooms are not kept for a resume.
    /// Returns how many.
    fn kick(&self, who: Who<'_>) -> usize;
    /// The members of a room on this node (empty if it has none here).
    fn members(&self, room: &str) -> Vec<Sid>;
    /// One connection's state, if it is connected to this node.
    fn connection(&self, sid: Sid) -> Option<ConnSnapshot>;
}
