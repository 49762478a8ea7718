//! sockgate's engine.io server, protocol v4 and v3, written for the gateway
//! on top of the wire-format crate `engineioxide-core`.
//!
//! The front listener hands every request under the engine path to
//! [`Engine::handle`]; sessions live in a sharded registry; each session has
//! one lazily allocated bounded outbound queue of [`Frame`]s, drained by the
//! pending polling GET or by the session's one websocket task. The layer
//! above (socket.io) implements [`EngineHandler`]. See `docs/engine.md`.

mod close;
mod config;
mod echo;
mod engine;
mod error;
mod frame;
mod handler;
mod heartbeat;
mod inbound;
mod payload;
mod polling;
mod request;
mod session;
mod websocket;

pub use close::CloseReason;
pub use config::EngineConfig;
pub use echo::EchoHandler;
pub use engine::Engine;
pub use engineioxide_core::{ProtocolVersion, Sid as EngineSid, Str, TransportType};
pub use error::SendError;
pub use frame::{Frame, Message};
pub use handler::EngineHandler;
pub use session::{detach_headers, Handshake, Session};

#[cfg(test)]
mod tests;
