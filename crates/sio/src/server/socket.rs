//! One namespace connection: what the bus delivers to, what packets go
//! out through, and what leaves the bus exactly once.

use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use socketioxide_core::packet::Packet;
use sockgate_core::{
    ConnectionPermit, Envelope, Offer, Position, RateVerdict, Recipient, RoomName, Sid, TokenBucket,
};
use sockgate_engine::{Frame, SendError, Session, TransportType};
use tracing::info;

use super::conn::Conn;
use super::dispatch::Dispatch;
use super::encode::{self, Frames};
use super::namespace::Namespace;
use super::recover::Trail;

/// What a socket's departure needs, kept from its arrival.
pub(crate) struct Leaving {
    /// Its place among live connections, given back on departure.
    pub(crate) permit: ConnectionPermit,
    /// The client's address, for the log.
    pub(crate) peer: String,
}

/// One client's connection to one namespace.
pub(crate) struct Socket {
    id: Sid,
    ns: Arc<Namespace>,
    session: Arc<Session<Conn>>,
    server: Arc<Dispatch>,
    rate: Mutex<TokenBucket>,
    /// Recoverable events sent, for socket.io's recovery (lazily).
    trail: Mutex<Option<Box<Trail>>>,
    /// Taken by the one departure.
    leaving: Mutex<Option<Leaving>>,
    /// While a recovery is decided, what the bus delivers waits here.
    held: Mutex<Option<Vec<Frames>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Socket {
    pub(crate) fn new(
        id: Sid,
        ns: Arc<Namespace>,
        session: Arc<Session<Conn>>,
        server: Arc<Dispatch>,
        leaving: Leaving,
        held: bool,
    ) -> Self {
        let (rate, burst) = (server.config.messages_per_second, server.config.message_burst);
        Socket {
            id,
            ns,
            session,
            server,
            rate: Mutex::new(TokenBucket::new(rate, burst)),
            trail: Mutex::new(None),
            leaving: Mutex::new(Some(leaving)),
            held: Mutex::new(held.then(Vec::new)),
        }
    }

    /// Ends the hold a recovering socket starts with: what waited is
    /// queued, in order, when `send`, and dropped otherwise.
    pub(crate) fn release(&self, send: bool) {
        let Some(held) = lock(&self.held).take() else {
            return;
        };
        if send {
            for frames in held {
                if self.send(&frames).is_err() {
                    break;
                }
            }
        }
    }

    /// Takes a socket whose recovery failed off the bus, without a
    /// departure (the client never saw it): its place among live
    /// connections goes to the socket that replaces it.
    pub(crate) fn abandon(&self) -> Option<Leaving> {
        let leaving = lock(&self.leaving).take()?;
        self.ns.sockets.remove(&self.id);
        if let Some(link) = self.server.link.get() {
            link.bus.disconnect(self.id);
        }
        Some(leaving)
    }

    /// The socket id (also its id on the bus).
    pub(crate) fn id(&self) -> Sid {
        self.id
    }

    /// Its namespace.
    pub(crate) fn namespace(&self) -> &Arc<Namespace> {
        &self.ns
    }

    /// The transport its session is on now.
    pub(crate) fn transport(&self) -> TransportType {
        self.session.transport()
    }

    /// Ends the whole engine.io session (every namespace on it).
    pub(crate) fn close_session(&self, reason: sockgate_engine::CloseReason) {
        self.session.close(reason);
    }

    /// Applies the rate limit to one event from the client.
    pub(crate) fn take_rate(&self) -> RateVerdict {
        lock(&self.rate).take(std::time::Instant::now())
    }

    /// Queues a packet's frames.
    pub(crate) fn send(&self, frames: &[Frame]) -> Result<(), SendError> {
        self.session.send_all(frames)
    }

    /// Emits `event` with `args` (a tuple or list: one argument each) to this socket.
    pub(crate) fn emit(&self, event: &str, args: &impl Serialize) {
        if let Some(frames) = encode::event(&self.ns.name, event, args) {
            let _ = self.send(&frames);
        }
    }

    /// Answers the client's event `id` with `args`.
    pub(crate) fn ack(&self, id: i64, args: &[serde_json::Value]) {
        if let Some(frames) = encode::ack(&self.ns.name, id, args) {
            let _ = self.send(&frames);
        }
    }

    /// Takes the socket off the bus and tells the backend why, unless that
    /// was done already.
    pub(crate) fn depart(&self, reason: &str) {
        let Some(Leaving { permit, peer }) = lock(&self.leaving).take() else {
            return;
        };
        drop(permit);
        self.ns.sockets.remove(&self.id);
        let Some(link) = self.server.link.get() else {
            return;
        };
        let snapshot = link.bus.connection(self.id);
        link.bus.disconnect(self.id);
        if let (Some(snapshot), Some(events)) = (snapshot, link.events.as_ref()) {
            events.on_disconnect(snapshot, reason);
        }
        info!(protocol = "socket.io", sid = %self.id, ns = %self.ns.name, %peer, %reason, "connection closed");
    }

    /// Ends this namespace connection from the server side: the client
    /// gets socket.io's DISCONNECT ("io server disconnect") and the socket
    /// leaves the bus; the session's other namespaces stay.
    pub(crate) fn disconnect_by_server(&self, reason: &str) {
        let _ = self.send(&encode::packet_frames(Packet::disconnect(self.ns.name.clone())));
        self.session.data().remove(self.ns.index);
        self.depart(reason);
    }

    /// Frames of `envelope` for this socket, recorded in the trail when
    /// the room is recoverable and the namespace recovers.
    fn frames_of(&self, envelope: &Envelope) -> Frames {
        let frames = encode::event_frames(envelope, &self.ns, self.server.namespaces.len());
        if let (true, Some(position), Some(room)) = (self.ns.recovery, envelope.position(), envelope.room()) {
            lock(&self.trail)
                .get_or_insert_with(Default::default)
                .record(room, position);
        }
        frames
    }
}

impl Recipient for Socket {
    fn offer(&self, envelope: &Arc<Envelope>) -> Offer {
        if self.session.is_closed() {
            return Offer::Closed;
        }
        let frames = self.frames_of(envelope);
        let mut held = lock(&self.held);
        if let Some(waiting) = held.as_mut() {
            if waiting.len() < self.server.config.outbound_queue {
                waiting.push(frames);
                return Offer::Queued;
            }
            drop(held);
            self.session.close(sockgate_engine::CloseReason::SlowConsumer);
            return Offer::Full;
        }
        drop(held);
        // A full queue closes the session (the engine counts it).
        match self.send(&frames) {
            Ok(()) => Offer::Queued,
            Err(SendError::Full) => Offer::Full,
            Err(SendError::Closed) => Offer::Closed,
        }
    }

    fn disconnect(&self) {
        self.disconnect_by_server("server namespace disconnect");
    }

    /// The recoverable events this socket was sent last (see `recover`).
    fn trail(&self) -> Vec<(RoomName, Position)> {
        lock(&self.trail)
            .as_ref()
            .map(|trail| trail.entries())
            .unwrap_or_default()
    }
}
