//! The bus: the one boundary between the protocol fronts, the server's API
//! and rooms, seen through one face per caller.
//!
//! - [`ClientBus`]: what the protocol fronts do on behalf of a client
//!   (connect, join, leave, publish). A join answers with a [`Heard`]
//!   future, which resolves once events published to the room on any node
//!   reach the client: fronts ack the join then, and need not know whether
//!   the node is part of a cluster.
//! - [`ServerBus`]: what the server does (the HTTP API, webhook answers,
//!   other nodes): emit to rooms, users, connections or everyone, put
//!   connections in rooms, kick.
//! - [`Recovery`](crate::Recovery): resuming after a drop, present only
//!   when some rooms keep a history ([`ClientBus::recovery`]).
//!
//! [`Bus`] is both faces at once, for the code that wires them together.
//! Every method is synchronous and never waits on a client (but those
//! answering a future): a front may call them from inside its message
//! handlers, and per-sender order is the order of calls.

mod client;
mod conn;
mod heard;
mod route;
mod server;

pub use client::{ClientBus, Joined};
pub use conn::{ConnMeta, ConnSnapshot, Protocol};
pub use heard::Heard;
pub use route::{Offer, Recipient};
pub use server::{Added, ServerBus, Target, Who};

/// The room every connection of user `id` is in.
pub fn user_room(id: &str) -> String {
    format!("{USER_ROOM_PREFIX}{id}")
}

/// Rooms starting with this are managed by the gateway: clients cannot
/// join, leave or publish to them.
pub const USER_ROOM_PREFIX: &str = "user:";

/// What the bus's asynchronous methods return.
pub type BusFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Both faces of the bus, for the code that wires fronts and the API to
/// one bus (a local one, or a cluster member). Implemented for every type
/// that has both.
pub trait Bus: ClientBus + ServerBus {}

impl<T: ClientBus + ServerBus> Bus for T {}
