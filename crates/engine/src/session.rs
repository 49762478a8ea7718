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
    /// Set by a POST or the websocket reader when the heartbeat packet the
    /// engine waits for (v4 pong, v3 ping) arrives.
    pub(crate) heard: AtomicBool,
    queue: Sender<Frame>,
    /// The queue's receiving end while the session is on polling: taken by
    /// the pending GET (none here means a GET is pending), handed to the
    /// websocket task on upgrade.
    receiver: Mutex<Option<Receiver<Frame>>>,
    /// Wakes the polling timer task (close, heartbeat, upgrade).
    pub(crate) driver: Notify,
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
            heard: AtomicBool::new(false),
            queue,
            receiver: Mutex::new(None),
            driver: Notify::new(),
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
    pub(crate) fn receiver(&self) -> MutexGuard<'_, Option<Receiver<Frame>>> {
        self.receiver.lock().unwrap_or_else(|p| p.into_inner())
    }
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
