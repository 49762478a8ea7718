//! [`Session`]: one engine.io session's state, shared by the requests and
//! the task that serve it.
//!
//! A session is small and allocates nothing before it is used: its outbound
//! queue is a `VecDeque` that grows on the first frame, its state is a few
//! atomics, and its one waker-list (`driver`) is a `Notify`. Whichever task
//! drives the session (the polling timer task, or the websocket task once
//! upgraded) finishes it; `finished` makes that happen exactly once.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use engineioxide_core::{ProtocolVersion, Sid, TransportType};
use futures_util::task::AtomicWaker;
use sockgate_queue::{Receiver, Sender, TrySendError};
use tokio::sync::Notify;

use crate::engine::Shared;
use crate::{CloseReason, Frame, SendError};

/// The request that opened a session.
#[derive(Debug)]
pub struct Handshake {
    /// The request's URI (path and query).
    pub uri: http::Uri,
    /// The request's headers.
    pub headers: http::HeaderMap,
    /// The client's address as the front listener saw it.
    pub peer: SocketAddr,
}

impl Handshake {
    /// A handshake that owns its bytes: hyper parses a request's URI and
    /// header values as slices of the connection's 8 KiB read buffer, which
    /// would stay allocated for the session's whole life; the values are
    /// copied into one exact-sized allocation instead.
    pub(crate) fn detached(uri: &http::Uri, mut headers: http::HeaderMap, peer: SocketAddr) -> Handshake {
        let uri = uri.to_string().parse().unwrap_or_else(|_| uri.clone());
        detach_headers(&mut headers);
        Handshake { uri, headers, peer }
    }
}

/// Makes every value of `headers` own its bytes, all in one exact-sized
/// allocation, so that keeping them does not keep the read buffer they
/// were parsed from (hyper's 8 KiB per connection).
pub fn detach_headers(headers: &mut http::HeaderMap) {
    let mut owned = bytes::BytesMut::with_capacity(headers.values().map(http::HeaderValue::len).sum());
    for value in headers.values() {
        owned.extend_from_slice(value.as_bytes());
    }
    let owned = owned.freeze();
    // `values()` and `values_mut()` walk the map in the same order.
    let mut start = 0;
    for value in headers.values_mut() {
        let end = start + value.len();
        if let Ok(mut copy) = http::HeaderValue::from_maybe_shared(owned.slice(start..end)) {
            copy.set_sensitive(value.is_sensitive());
            *value = copy;
        }
        start = end;
    }
}

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// On long-polling.
    Polling = 0,
    /// On long-polling, a websocket probe under way.
    Upgrading = 1,
    /// On websocket.
    Websocket = 2,
    /// Closed; the reason is in `reason`.
    Closed = 3,
}

impl State {
    fn from_u8(n: u8) -> State {
        match n {
            0 => State::Polling,
            1 => State::Upgrading,
            2 => State::Websocket,
            _ => State::Closed,
        }
    }
}

/// One engine.io session.
pub struct Session<D> {
    id: Sid,
    protocol: ProtocolVersion,
    /// v3 polling clients that asked for base64 (`b64=1`).
    b64: bool,
    state: AtomicU8,
    reason: AtomicU8,
    finished: AtomicBool,
    /// [`POSTING`], [`CLOSE_SENT`], [`HEARD`].
    flags: AtomicU8,
    queue: Sender<Frame>,
    /// The queue's receiving end while the session is on polling: taken by
    /// the pending GET (none here means a GET is pending), handed to the
    /// websocket task on upgrade.
    receiver: Mutex<Option<PollSlot>>,
    /// Wakes the polling timer task (close, heartbeat, upgrade).
    pub(crate) driver: Notify,
    /// Wakes the websocket task when the session is closed.
    closer: AtomicWaker,
    pub(crate) shared: Arc<Shared>,
    handshake: Handshake,
    data: D,
}

impl<D> Session<D> {
    pub(crate) fn new(
        id: Sid,
        protocol: ProtocolVersion,
        transport: TransportType,
        b64: bool,
        handshake: Handshake,
        shared: Arc<Shared>,
        data: D,
    ) -> (Session<D>, Receiver<Frame>) {
        let (queue, receiver) = sockgate_queue::bounded(shared.config.outbound_queue);
        let state = match transport {
            TransportType::Polling => State::Polling,
            TransportType::Websocket => State::Websocket,
        };
        let session = Session {
            id,
            protocol,
            b64,
            state: AtomicU8::new(state as u8),
            reason: AtomicU8::new(0),
            finished: AtomicBool::new(false),
            flags: AtomicU8::new(0),
            queue,
            receiver: Mutex::new(None),
            driver: Notify::new(),
            closer: AtomicWaker::new(),
            shared,
            handshake,
            data,
        };
        (session, receiver)
    }

    /// The session id (the engine.io `sid`).
    pub fn id(&self) -> Sid {
        self.id
    }

    /// The engine.io protocol version the client speaks.
    pub fn protocol(&self) -> ProtocolVersion {
        self.protocol
    }

    /// The current transport (polling until an upgrade completes).
    pub fn transport(&self) -> TransportType {
        match self.state() {
            State::Websocket => TransportType::Websocket,
            State::Closed if self.reason.load(Ordering::Acquire) & WAS_WEBSOCKET != 0 => {
                TransportType::Websocket
            }
            _ => TransportType::Polling,
        }
    }

    /// The request that opened the session.
    pub fn handshake(&self) -> &Handshake {
        &self.handshake
    }

    /// The layer above's per-session state.
    pub fn data(&self) -> &D {
        &self.data
    }

    /// Queues one frame; a full queue closes the session
    /// ([`CloseReason::SlowConsumer`], counted) and answers `Full`.
    pub fn send(&self, frame: Frame) -> Result<(), SendError> {
        if self.is_closed() {
            return Err(SendError::Closed);
        }
        let sent = self.queue.try_send(frame);
        self.sent(sent)
    }

    /// Queues every frame or none (a packet and its binary attachments);
    /// full → as [`send`](Self::send).
    pub fn send_all(&self, frames: &[Frame]) -> Result<(), SendError> {
        if self.is_closed() {
            return Err(SendError::Closed);
        }
        let sent = self.queue.try_send_all(frames.iter().cloned());
        self.sent(sent)
    }

    fn sent(&self, sent: Result<(), TrySendError>) -> Result<(), SendError> {
        match sent {
            Ok(()) => Ok(()),
            Err(TrySendError::Closed) => Err(SendError::Closed),
            Err(TrySendError::Full) => {
                self.close(CloseReason::SlowConsumer);
                Err(SendError::Full)
            }
        }
    }

    /// Queues an engine frame (heartbeat, noop) the way `send` does.
    pub(crate) fn send_control(&self, frame: Frame) -> Result<(), SendError> {
        self.sent(self.queue.try_send(frame))
    }

    /// Closes the session from the server side (sends the close packet, ends
    /// the transport, `on_close(reason)` from the session's task).
    pub fn close(&self, reason: CloseReason) {
        let mut current = self.state.load(Ordering::Acquire);
        loop {
            if State::from_u8(current) == State::Closed {
                return;
            }
            let was_websocket = if State::from_u8(current) == State::Websocket {
                WAS_WEBSOCKET
            } else {
                0
            };
            // The reason is stored before the state says closed, so that
            // whoever sees `Closed` reads it.
            self.reason
                .store(reason.to_u8() | was_websocket, Ordering::Release);
            match self.state.compare_exchange(
                current,
                State::Closed as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
        if reason == CloseReason::SlowConsumer {
            self.shared.slow_consumer();
        }
        tracing::debug!(sid = %self.id, reason = reason.as_str(), "session closing");
        self.queue.wake_receiver();
        self.driver.notify_one();
        self.closer.wake();
    }

    /// Resolves once the session is closed (for the websocket task).
    pub(crate) fn closed(&self) -> impl std::future::Future<Output = ()> + '_ {
        std::future::poll_fn(|cx| {
            if self.is_closed() {
                return std::task::Poll::Ready(());
            }
            self.closer.register(cx.waker());
            if self.is_closed() {
                return std::task::Poll::Ready(());
            }
            std::task::Poll::Pending
        })
    }

    /// Sets `flag`; whether it was clear.
    pub(crate) fn set_flag(&self, flag: u8) -> bool {
        self.flags.fetch_or(flag, Ordering::AcqRel) & flag == 0
    }

    /// Clears `flag`; whether it was set.
    pub(crate) fn take_flag(&self, flag: u8) -> bool {
        self.flags.fetch_and(!flag, Ordering::AcqRel) & flag != 0
    }

    /// Whether `flag` is set.
    pub(crate) fn has_flag(&self, flag: u8) -> bool {
        self.flags.load(Ordering::Acquire) & flag != 0
    }

    /// Whether the session is closed (or closing).
    pub fn is_closed(&self) -> bool {
        self.state() == State::Closed
    }

    pub(crate) fn state(&self) -> State {
        State::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Moves from `from` to `to` unless the state changed meanwhile.
    pub(crate) fn transition(&self, from: State, to: State) -> bool {
        self.state
            .compare_exchange(from as u8, to as u8, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Why the session closed, once it did.
    pub(crate) fn close_reason(&self) -> Option<CloseReason> {
        CloseReason::from_u8(self.reason.load(Ordering::Acquire) & !WAS_WEBSOCKET)
    }

    /// Whether a closed polling session still waits for the client's last
    /// poll, which takes the close packet (a server close) or a noop (the
    /// client's own close: its poll may arrive just after its close).
    pub(crate) fn awaits_last_poll(&self) -> bool {
        let told = match self.close_reason() {
            Some(CloseReason::ServerClose | CloseReason::ShuttingDown) => true,
            // A client that closed gets a noop on the poll it has pending,
            // if any; a later poll finds the sid unknown, as from Node's
            // (tests/e2e/socketio_errors.rs pins it). A poll sent together
            // with the close but read after it gets 400 as well: Node, one
            // thread, reads the two in the order they came.
            Some(CloseReason::ForcedClose) => self.receiver().is_none(),
            _ => false,
        };
        told && !self.has_flag(CLOSE_SENT)
    }

    /// True exactly once: for the caller that finishes the session.
    pub(crate) fn take_finish(&self) -> bool {
        !self.finished.swap(true, Ordering::AcqRel)
    }

    pub(crate) fn b64(&self) -> bool {
        self.b64
    }

    pub(crate) fn queue(&self) -> &Sender<Frame> {
        &self.queue
    }

    /// The receiver slot shared by polling GETs and the upgrade.
    pub(crate) fn receiver(&self) -> MutexGuard<'_, Option<PollSlot>> {
        self.receiver.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A POST is being read (one at a time, so messages stay in order).
pub(crate) const POSTING: u8 = 1;
/// A GET has carried the close packet of a closed polling session.
pub(crate) const CLOSE_SENT: u8 = 2;
/// The heartbeat packet the engine waits for arrived over polling.
pub(crate) const HEARD: u8 = 4;
/// An upgrade under way has been probed (`2probe` answered): polls are
/// answered with a noop when there is nothing to send.
pub(crate) const PROBED: u8 = 8;

/// The outbound queue's receiving end while a session is on polling.
pub(crate) struct PollSlot {
    pub(crate) rx: Receiver<Frame>,
    /// A frame taken from the queue that did not fit in the last payload:
    /// it goes first in the next.
    pub(crate) held: Option<Frame>,
}

/// Marks, in `reason`, a session that was on websocket when it closed.
const WAS_WEBSOCKET: u8 = 0x80;

impl<D> std::fmt::Debug for Session<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("protocol", &self.protocol)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Not a limit to hit exactly: a reminder that every session carries
    /// this, and a figure for `docs/engine.md`.
    #[test]
    fn a_session_stays_small() {
        let size = std::mem::size_of::<Session<()>>();
        eprintln!("size_of::<Session<()>>() = {size}");
        assert!(size <= 512, "Session grew to {size} bytes");
    }
}
