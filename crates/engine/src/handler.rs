//! [`EngineHandler`]: the boundary between the engine and the layer above.

use std::sync::Arc;

use crate::{CloseReason, Message, Session};

/// The layer above the engine (socket.io).
pub trait EngineHandler: Send + Sync + 'static {
    /// Per-session state of the layer above, stored in the session.
    type Data: Default + Send + Sync + 'static;
    /// A session opened (its open packet is queued first, before anything
    /// the handler sends).
    fn on_open(&self, session: &Arc<Session<Self::Data>>);
    /// A message arrived, in the order the client sent it (called inline from
    /// the session's reader; never concurrently for one session).
    fn on_message(&self, session: &Arc<Session<Self::Data>>, message: Message);
    /// The session ended; called exactly once per opened session.
    fn on_close(&self, session: &Arc<Session<Self::Data>>, reason: CloseReason);
}
