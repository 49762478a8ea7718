//! [`Heard`]: the moment a room's events, from any node, reach a member.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Resolves once events published to the rooms a change put a connection
/// in reach it from every node, or once waiting has failed or timed out
/// (`cluster.timeout`): at once on a single node, and in a cluster once
/// the node's subscriptions to the rooms are confirmed. A front answers a
/// join when it resolves, so that a client whose join was acked gets every
/// event published to the room after the ack, wherever it was published.
#[must_use = "a change is heard only once this resolves"]
pub struct Heard(Option<Pin<Box<dyn Future<Output = ()> + Send + 'static>>>);

impl Heard {
    /// Already heard.
    pub fn now() -> Self {
        Heard(None)
    }

    /// Heard once `wait` resolves.
    pub fn after(wait: impl Future<Output = ()> + Send + 'static) -> Self {
        Heard(Some(Box::pin(wait)))
    }

    /// Heard once every one of `waits` is: they are waited for together,
    /// so the whole wait lasts as long as the longest.
    pub fn all(waits: impl IntoIterator<Item = Heard>) -> Self {
        let pending: Vec<Heard> = waits.into_iter().filter(|heard| !heard.is_now()).collect();
        match pending.len() {
            0 => Heard::now(),
            1 => pending.into_iter().next().unwrap_or_else(Heard::now),
            _ => Heard::after(All(pending)),
        }
    }

    /// Whether there is nothing to wait for: an answer may go out at once,
    /// without a task to wait in.
    pub fn is_now(&self) -> bool {
        self.0.is_none()
    }
}

impl Future for Heard {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.0 {
            None => Poll::Ready(()),
            Some(wait) => wait.as_mut().poll(cx),
        }
    }
}

impl std::fmt::Debug for Heard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.is_now() {
            true => f.write_str("Heard::now"),
            false => f.write_str("Heard::after(..)"),
        }
    }
}

/// The future of [`Heard::all`]: the waits still pending.
struct All(Vec<Heard>);

impl Future for All {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.retain_mut(|heard| Pin::new(heard).poll(cx).is_pending());
        match self.0.is_empty() {
            true => Poll::Ready(()),
            false => Poll::Pending,
        }
    }
}
