//! The boundary for client events that are not control events: the fronts
//! hand them to an [`EventHandler`] (the event webhooks) and turn its
//! answer into the client's ack.

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

use crate::{ConnSnapshot, ErrorCode, Sid};

/// One event a client emitted for the backend.
#[derive(Debug, Clone)]
pub struct ClientEvent {
    /// The emitting connection.
    pub sid: Sid,
    /// The event name.
    pub event: String,
    /// Every argument, binary attachments as `{"$binary":"<base64>"}`.
    pub args: Vec<Value>,
}

/// Why an event could not be handled; sent to the client as a failed ack.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// No route matches the event name.
    #[error("no handler for event {0:?}")]
    NoHandler(String),
    /// The backend is down, refused, or answered something unusable.
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    /// The backend did not answer in time.
    #[error("the backend did not answer in time")]
    Timeout,
    /// The backend answered with an error of its own.
    #[error("{message}")]
    Refused {
        /// The backend's code.
        code: String,
        /// The backend's message.
        message: String,
    },
    /// The gateway refused the backend's instructions.
    #[error("{0}")]
    Invalid(String),
}

impl EventError {
    /// The wire code of this failure.
    pub fn code(&self) -> &str {
        match self {
            EventError::NoHandler(_) => "no_handler",
            EventError::Unavailable(_) => "backend_unavailable",
            EventError::Timeout => "timeout",
            EventError::Refused { code, .. } => code,
            EventError::Invalid(_) => ErrorCode::BadRequest.as_str(),
        }
    }
}

/// A boxed future answering an event with the ack's arguments.
pub type EventFuture = Pin<Box<dyn Future<Output = Result<Vec<Value>, EventError>> + Send + 'static>>;

/// Handles client events and disconnects for the backend.
pub trait EventHandler: Send + Sync {
    /// Handles one event; the answer is the ack's arguments.
    fn on_event(&self, event: ClientEvent) -> EventFuture;
    /// Reports a connection that ended (its state just before it left).
    fn on_disconnect(&self, connection: ConnSnapshot, reason: &str);
}
