//! How the bus reaches a connection: each is a [`Recipient`] that takes
//! envelopes one by one into its own bounded queue. A raw WebSocket
//! connection and a socket.io socket are both recipients; the encoding is
//! cached on the envelope, once per protocol, so members share the bytes.

use std::sync::Arc;

use crate::{Envelope, Position, RoomName};

/// What happened when the bus offered an envelope to a [`Recipient`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// The envelope is queued for sending.
    Queued,
    /// The recipient's queue is full: it is being disconnected as a slow consumer.
    Full,
    /// The recipient is already closing.
    Closed,
}

/// A connection that takes envelopes one by one into its own bounded queue.
pub trait Recipient: Send + Sync {
    /// Queues the envelope without waiting. A full queue must not block the
    /// caller: the recipient disconnects itself and answers [`Offer::Full`].
    fn offer(&self, envelope: &Arc<Envelope>) -> Offer;
    /// Ends the connection because the server asked to (HTTP API).
    fn disconnect(&self);
    /// The recoverable events it was sent last, oldest first, kept with its
    /// departed session (see [`DepartedSession::trail`](crate::DepartedSession::trail)).
    /// Only recipients whose clients resume from one offset keep one.
    fn trail(&self) -> Vec<(RoomName, Position)> {
        Vec::new()
    }
}
