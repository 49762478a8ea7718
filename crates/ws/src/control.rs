//! One connection's close switch, shared by its reader, its writer and the
//! bus (which flips it for slow consumers).

use std::sync::{Arc, OnceLock};

use sockgate_core::{Envelope, Offer, Recipient};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::budget::QueueBudget;
use crate::queue::{Sender, TrySendError};
use crate::{protocol, CloseReason};

/// Something for the writer to send.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// A room event, encoded once and shared with every other receiver.
    Event(Utf8Bytes),
    /// A frame for this client only (open, ack, error, pong).
    Reply(String),
}

/// Decides once why a connection ends and wakes everyone waiting on it.
///
/// A `Notify` inside the connection's own allocation rather than a
/// cancellation token, which would be one more allocation per connection.
#[derive(Debug, Default)]
pub(crate) struct Control {
    reason: OnceLock<CloseReason>,
    switch: Notify,
}

impl Control {
    /// Starts closing for `reason`; later reasons are ignored.
    pub(crate) fn close(&self, reason: CloseReason) {
        if self.reason.set(reason).is_ok() {
            self.switch.notify_waiters();
        }
    }

    /// Waits until the connection starts closing and says why.
    pub(crate) async fn closed(&self) -> CloseReason {
        // Registered before the check: a close between the two still wakes it.
        let notified = self.switch.notified();
        if !self.is_closed() {
            notified.await;
        }
        self.reason()
    }

    /// The reason given so far (connection lost if none).
    pub(crate) fn reason(&self) -> CloseReason {
        self.reason.get().copied().unwrap_or(CloseReason::ConnectionLost)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.reason.get().is_some()
    }
}

/// The bus's handle on one raw connection.
pub(crate) struct RawRecipient {
    pub(crate) queue: Sender<Outbound>,
    pub(crate) control: Arc<Control>,
    pub(crate) budget: Arc<QueueBudget>,
}

impl RawRecipient {
    /// Messages waiting in this connection's queue.
    fn backlog(&self) -> usize {
        self.queue.backlog()
    }
}

impl Recipient for RawRecipient {
    fn offer(&self, envelope: &Arc<Envelope>) -> Offer {
        if self.control.is_closed() {
            return Offer::Closed;
        }
        // Encoded by the first raw receiver, shared by all the others.
        let frame = envelope.encoded(|e| self.budget.charge(protocol::event_frame(e)));
        // Over the memory budget, a connection more than a quarter of its
        // queue behind is what holds the memory: it goes.
        if self.budget.is_exceeded() && self.backlog() > self.queue.capacity() / 4 {
            self.control.close(CloseReason::SlowConsumer);
            return Offer::Full;
        }
        match self.queue.try_send(Outbound::Event(frame)) {
            Ok(()) => Offer::Queued,
            Err(TrySendError::Full) => {
                self.control.close(CloseReason::SlowConsumer);
                Offer::Full
            }
            Err(TrySendError::Closed) => Offer::Closed,
        }
    }

    fn disconnect(&self) {
        self.control.close(CloseReason::Kicked);
    }
}
