//! sockgate's socket.io front: a socketioxide engine (engine.io v4, and v3
//! for socket.io-client 2.x) whose control events (`join`, `leave`,
//! `publish`) are bridged onto the shared bus ([`ClientBus`](sockgate_core::ClientBus)).
//!
//! Each served namespace is one [`GroupOutlet`](sockgate_core::GroupOutlet):
//! the bus calls it once per publish and socketioxide encodes the packet
//! once for all of the namespace's members of the room.

mod bridge;
mod config;
mod departure;
mod forward;
mod front;
mod json;
mod outlet;
mod resume;
mod server;

pub use config::{EventNames, SioConfig, SioEngine};
pub use engineioxide::service::NotFoundService;
pub use front::{SioCounters, SioFront};
pub use server::{SocketIoCounters, SocketIoServer};
pub use socketioxide::service::SocketIoService;
