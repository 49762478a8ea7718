//! sockgate's socket.io server: namespaces, CONNECT, events and acks on
//! sockgate's own engine.io ([`sockgate_engine`]), every socket a
//! recipient of the shared bus ([`ClientBus`](sockgate_core::ClientBus)).
//!
//! A publish is encoded once per namespace and the same frames go to every
//! member socket; control events (`join`, `leave`, `publish`, `resume`) are
//! served on the bus, the rest go to the backend.

mod config;
mod json;
mod server;

pub use config::{EventNames, SioConfig};
pub use server::{SocketIoCounters, SocketIoServer};
