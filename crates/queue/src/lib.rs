//! A connection's bounded outbound queue: many senders (the bus, the
//! reader's replies, webhook answers), one receiver (the writer). Shared by
//! the raw front (`sockgate-ws`) and the engine.io engine (`sockgate-engine`).
//!
//! tokio's mpsc channel allocates its first 32-slot block and a 128-byte
//! aligned header up front, about 1.6 KB per connection whether it ever
//! carries a message or not. This queue is a `VecDeque` behind the
//! connection's own mutex: nothing is allocated until a message is queued,
//! and a drained queue gives back what a burst made it grow to. The lock
//! is per connection and held for a push or a pop, never across an await.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;

/// Capacity kept by a drained queue; anything beyond is given back.
const KEEP_CAPACITY: usize = 8;

struct Shared<T> {
    items: Mutex<VecDeque<T>>,
    capacity: usize,
    senders: AtomicUsize,
    receiver_gone: AtomicBool,
    writer: AtomicWaker,
}

impl<T> Shared<T> {
    fn items(&self) -> MutexGuard<'_, VecDeque<T>> {
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Why [`Sender::try_send`] or [`Sender::try_send_all`] did not queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrySendError {
    /// The queue holds `capacity` items.
    Full,
    /// The receiver is gone.
    Closed,
}

/// Queues items; cheap to clone.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// Takes items in order.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

/// A queue holding at most `capacity` items (at least 1).
pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        items: Mutex::new(VecDeque::new()),
        capacity: capacity.max(1),
        senders: AtomicUsize::new(1),
        receiver_gone: AtomicBool::new(false),
        writer: AtomicWaker::new(),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

impl<T> Sender<T> {
    /// Queues `item` unless the queue is full or the receiver is gone.
    pub fn try_send(&self, item: T) -> Result<(), TrySendError> {
        if self.shared.receiver_gone.load(Ordering::Acquire) {
            return Err(TrySendError::Closed);
        }
        {
            let mut items = self.shared.items();
            if items.len() >= self.shared.capacity {
                return Err(TrySendError::Full);
            }
            items.push_back(item);
        }
        self.shared.writer.wake();
        Ok(())
    }

    /// Queues every item of `items`, or none of them when they would not all
    /// fit (`Full`) or the receiver is gone (`Closed`): a message made of
    /// several frames (a packet and its binary attachments) is never split by
    /// a full queue.
    pub fn try_send_all<I>(&self, items: I) -> Result<(), TrySendError>
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: ExactSizeIterator,
    {
        let items_in = items.into_iter();
        if self.shared.receiver_gone.load(Ordering::Acquire) {
            return Err(TrySendError::Closed);
        }
        {
            let mut items = self.shared.items();
            if items.len().saturating_add(items_in.len()) > self.shared.capacity {
                return Err(TrySendError::Full);
            }
            items.extend(items_in);
        }
        self.shared.writer.wake();
        Ok(())
    }

    /// Wakes the receiver without queueing anything, so that it looks again
    /// at whatever else it waits on (a session that was closed, say).
    pub fn wake_receiver(&self) {
        self.shared.writer.wake();
    }

    /// Whether the receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.shared.receiver_gone.load(Ordering::Acquire)
    }

    /// Items waiting.
    pub fn backlog(&self) -> usize {
        self.shared.items().len()
    }

    /// Most items the queue holds.
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.senders.fetch_add(1, Ordering::Relaxed);
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.writer.wake();
        }
    }
}

impl<T> Receiver<T> {
    /// The next item, if one is waiting.
    pub fn try_recv(&mut self) -> Option<T> {
        let mut items = self.shared.items();
        let item = items.pop_front();
        if items.is_empty() && items.capacity() > KEEP_CAPACITY {
            items.shrink_to(KEEP_CAPACITY);
        }
        item
    }

    /// Waits for the next item; `None` once every sender is gone and the
    /// queue is empty.
    pub async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next item: `Ready(None)` once every sender is gone and
    /// the queue is empty; `Pending` registers the task to be woken by the
    /// next push or [`Sender::wake_receiver`].
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if let Some(item) = self.try_recv() {
            return Poll::Ready(Some(item));
        }
        self.shared.writer.register(cx.waker());
        // Checked again after registering, so a push in between wakes us.
        if let Some(item) = self.try_recv() {
            return Poll::Ready(Some(item));
        }
        if self.shared.senders.load(Ordering::Acquire) == 0 {
            return Poll::Ready(None);
        }
        Poll::Pending
    }

    /// Items waiting.
    pub fn backlog(&self) -> usize {
        self.shared.items().len()
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.shared.receiver_gone.store(true, Ordering::Release);
        // What is queued is never written: free it now.
        self.shared.items().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_order_refuses_beyond_capacity_and_ends_with_the_senders() {
        let (tx, mut rx) = bounded(2);
        assert_eq!(tx.try_send(1), Ok(()));
        assert_eq!(tx.try_send(2), Ok(()));
        assert_eq!(tx.try_send(3), Err(TrySendError::Full));
        assert_eq!(tx.backlog(), 2);
        assert_eq!(rx.recv().await, Some(1));
        let other = tx.clone();
        drop(tx);
        assert_eq!(other.try_send(4), Ok(()));
        drop(other);
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.recv().await, Some(4));
        assert_eq!(rx.recv().await, None);
    }

    #[tokio::test]
    async fn wakes_a_waiting_receiver_and_refuses_once_it_is_gone() {
        let (tx, mut rx) = bounded(4);
        let waiting = tokio::spawn(async move {
            let item = rx.recv().await;
            (item, rx)
        });
        tokio::task::yield_now().await;
        tx.try_send("hello").unwrap();
        let (item, rx) = waiting.await.unwrap();
        assert_eq!(item, Some("hello"));
        drop(rx);
        assert_eq!(tx.try_send("late"), Err(TrySendError::Closed));
    }

    #[test]
    fn send_all_queues_every_item_or_none() {
        let (tx, mut rx) = bounded(3);
        assert_eq!(tx.try_send(0), Ok(()));
        assert_eq!(tx.try_send_all([1, 2, 3]), Err(TrySendError::Full));
        assert_eq!(tx.backlog(), 1);
        assert_eq!(tx.try_send_all([1, 2]), Ok(()));
        assert_eq!(tx.try_send_all(std::iter::empty()), Ok(()));
        assert_eq!(
            (0..3).map(|_| rx.try_recv()).collect::<Vec<_>>(),
            [Some(0), Some(1), Some(2)]
        );
        drop(rx);
        assert_eq!(tx.try_send_all([4]), Err(TrySendError::Closed));
    }

    #[test]
    fn a_drained_queue_gives_back_its_burst_capacity() {
        let (tx, mut rx) = bounded(1024);
        for n in 0..1000 {
            tx.try_send(n).unwrap();
        }
        while rx.try_recv().is_some() {}
        assert!(rx.shared.items().capacity() <= KEEP_CAPACITY);
    }
}
