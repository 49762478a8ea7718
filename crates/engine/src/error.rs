//! The engine's errors: [`SendError`] for the layer above, and the refusals
//! of engine.io requests, each with its status and JSON body, in one place.

/// Why `Session::send` did not queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The session's outbound queue is full; the session has been closed as a
    /// slow consumer.
    #[error("outbound queue full")]
    Full,
    /// The session is closed.
    #[error("session closed")]
    Closed,
}
