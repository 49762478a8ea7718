//! What one engine.io session holds for socket.io: its connected
//! namespace sockets, a binary packet still waiting for attachments, and
//! the timer that ends a session that never connects a namespace.
//!
//! Nothing is allocated here before it is needed: a session with one
//! namespace holds a one-element vector, and the parser state exists only
//! while a binary packet is half received.

use std::sync::{Arc, Mutex, MutexGuard};

use socketioxide_core::parser::ParserState;
use tokio::task::AbortHandle;

use super::socket::Socket;

/// The socket.io side of one engine.io session (the engine's per-session data).
#[derive(Default)]
pub(crate) struct Conn {
    state: Mutex<ConnState>,
}

#[derive(Default)]
struct ConnState {
    /// Namespace sockets connected on this session.
    sockets: Vec<Arc<Socket>>,
    /// Namespaces (by index) whose CONNECT is being answered.
    connecting: Vec<usize>,
    /// A binary packet waiting for its attachments.
    partial: Option<Box<ParserState>>,
    /// Ends the session if no namespace connects in time.
    connect_timer: Option<AbortHandle>,
    /// The session ended: sockets that finish connecting now must leave.
    closed: bool,
}

/// Why a CONNECT cannot go ahead.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Busy {
    /// The namespace is connected or connecting on this session already.
    Already,
    /// The session ended.
    Closed,
}

impl Conn {
    fn state(&self) -> MutexGuard<'_, ConnState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The socket connected to namespace `index` on this session.
    pub(crate) fn socket(&self, index: usize) -> Option<Arc<Socket>> {
        let state = self.state();
        state
            .sockets
            .iter()
            .find(|s| s.namespace().index == index)
            .cloned()
    }

    /// Marks namespace `index` as connecting, unless it is (or the session is gone).
    pub(crate) fn start_connect(&self, index: usize) -> Result<(), Busy> {
        let mut state = self.state();
        if state.closed {
            return Err(Busy::Closed);
        }
        if state.connecting.contains(&index) || state.sockets.iter().any(|s| s.namespace().index == index) {
            return Err(Busy::Already);
        }
        state.connecting.push(index);
        if let Some(timer) = state.connect_timer.take() {
            timer.abort();
        }
        Ok(())
    }

    /// Ends a CONNECT: `socket` joins the session, unless the session ended
    /// meanwhile (then it is handed back, to leave the bus).
    pub(crate) fn finish_connect(
        &self,
        index: usize,
        socket: Option<Arc<Socket>>,
    ) -> Result<(), Arc<Socket>> {
        let mut state = self.state();
        state.connecting.retain(|&i| i != index);
        match socket {
            Some(socket) if state.closed => Err(socket),
            Some(socket) => {
                state.sockets.push(socket);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Removes the socket of namespace `index` (its disconnect).
    pub(crate) fn remove(&self, index: usize) -> Option<Arc<Socket>> {
        let mut state = self.state();
        let at = state.sockets.iter().position(|s| s.namespace().index == index)?;
        Some(state.sockets.swap_remove(at))
    }

    /// The session ended: every socket, to leave the bus.
    pub(crate) fn close(&self) -> Vec<Arc<Socket>> {
        let mut state = self.state();
        state.closed = true;
        if let Some(timer) = state.connect_timer.take() {
            timer.abort();
        }
        state.partial = None;
        std::mem::take(&mut state.sockets)
    }

    /// Keeps the timer that ends a session with no namespace.
    pub(crate) fn set_connect_timer(&self, timer: AbortHandle) {
        let mut state = self.state();
        match state.closed {
            true => timer.abort(),
            false => state.connect_timer = Some(timer),
        }
    }

    /// Whether any namespace is connected or connecting.
    pub(crate) fn has_namespaces(&self) -> bool {
        let state = self.state();
        !state.sockets.is_empty() || !state.connecting.is_empty()
    }

    /// Runs `parse` with the parser state of a half-received binary
    /// packet, or a fresh one; keeps the state only while `parse` leaves a
    /// packet waiting for attachments.
    pub(crate) fn parse<T>(&self, parse: impl FnOnce(&ParserState) -> T) -> T {
        let kept = self.state().partial.take();
        match kept {
            Some(state) => {
                let outcome = parse(&state);
                if is_waiting(&state) {
                    self.state().partial = Some(state);
                }
                outcome
            }
            None => {
                let state = ParserState::default();
                let outcome = parse(&state);
                if is_waiting(&state) {
                    self.state().partial = Some(Box::new(state));
                }
                outcome
            }
        }
    }
}

/// Whether the parser holds a binary packet waiting for attachments.
fn is_waiting(state: &ParserState) -> bool {
    state
        .partial_bin_packet
        .lock()
        .map(|partial| partial.is_some())
        .unwrap_or(false)
}
