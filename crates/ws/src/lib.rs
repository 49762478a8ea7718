//! sockgate's plain RFC 6455 front, speaking raw protocol v1
//! (`docs/protocol.md`): one JSON object per text frame.
//!
//! The flow is `RawFront::handle` (HTTP upgrade) → [`run_session`] (one
//! task per connection: a reader that turns frames into bus calls, and a
//! writer that drains the bounded outbound queue, pings and closes) → the
//! bus ([`ClientBus`](sockgate_core::ClientBus)).

mod auth;
mod budget;
mod close;
mod config;
mod control;
mod echo;
mod error;
mod front;
#[doc(hidden)]
pub mod fuzzing;
mod handshake;
mod metrics;
mod protocol;
mod rejection;
mod session;

pub use budget::QueueBudget;
pub use close::CloseReason;
pub use config::WsConfig;
pub use error::HandshakeError;
pub use front::RawFront;
pub use handshake::{negotiate_subprotocol, SubprotocolChoice};
pub use metrics::{WsMetrics, WsSnapshot};
pub use session::{run_session, SessionLinks};
