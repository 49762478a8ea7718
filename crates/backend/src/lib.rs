//! sockgate's backend integration: the server HTTP API through which the
//! team's own backend emits to rooms, users and connections, moves
//! connections between rooms, disconnects them, and inspects rooms and
//! connections (`docs/api.md`).

mod api;
mod auth;
mod error;
mod requests;

pub use api::{Api, ApiConfig};
pub use error::ApiError;
