//! One connection's close switch, shared by its reader, its writer and the
//! bus (which flips it for slow consumers).

use std::future::{poll_fn, Future};
use std::sync::{Arc, OnceLock};
use std::task::Poll;

use futures_util::task::AtomicWaker;

use sockgate_core::{Envelope, Offer, Recipient};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::budget::QueueBudget;
use crate::{protocol, CloseReason};
use sockgate_queue::{Sender, TrySendError};

/// Something for the writer to send.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// A room event, encoded once and shared with every other receiver.
    Event(Utf8Bytes),
    /// A frame for this client only (open, ack, error, pong).
    Reply(String),
}

/// Decides once why a connection ends and wakes everyone waiting on it;
/// also where the reader tells the writer's heartbeat the client is alive.
///
/// Exactly two tasks wait on it, the reader and the writer, each with a
/// waker slot of its own: registering is one atomic swap, with no lock
/// and no waiter list on the path of every wake-up.
#[derive(Debug, Default)]
pub(crate) struct Control {
    reason: OnceLock<CloseReason>,
    waiters: [AtomicWaker; 2],
    /// When the client last sent anything.
    pub(crate) liveness: crate::session::Liveness,
}

/// Which of the two waiters a [`Control::closed`] is for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Waiter {
    Reader = 0,
    Writer = 1,
}

impl Control {
    /// Starts closing for `reason`; later reasons are ignored.
    pub(crate) fn close(&self, reason: CloseReason) {
        if self.reason.set(reason).is_ok() {
            self.waiters.iter().for_each(AtomicWaker::wake);
        }
    }

    /// Waits until the connection starts closing and says why. Only one
    /// future per `waiter` may be waiting at a time.
    pub(crate) fn closed(&self, waiter: Waiter) -> impl Future<Output = CloseReason> + '_ {
        poll_fn(move |cx| {
            // Registered before the check: a close between the two still wakes it.
            self.waiters[waiter as usize].register(cx.waker());
            match self.reason.get() {
                Some(reason) => Poll::Ready(*reason),
                None => Poll::Pending,
            }
        })
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
