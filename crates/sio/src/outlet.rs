//! [`SioOutlet`]: one socket.io namespace as a bus group outlet.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures_util::FutureExt;
use socketioxide::socket::Sid as SioSid;
use socketioxide::SocketIo;
use sockgate_core::{Envelope, GroupOutlet, RoomName, Sid};
use tracing::{debug, warn};

/// Delivers bus events to one namespace's sockets through socketioxide's
/// broadcast, which encodes the packet once for all of them, and keeps
/// socketioxide's room index (its delivery index) in step with the bus.
pub(crate) struct SioOutlet {
    io: SocketIo,
    namespace: String,
    dropped: Arc<AtomicU64>,
}

impl SioOutlet {
    pub(crate) fn new(io: SocketIo, namespace: String, dropped: Arc<AtomicU64>) -> Self {
        SioOutlet {
            io,
            namespace,
            dropped,
        }
    }

    fn socket(&self, sid: Sid) -> Option<socketioxide::extract::SocketRef> {
        let sid: SioSid = sid.as_str().parse().ok()?;
        self.io.of(&self.namespace)?.get_socket(sid)
    }
}

impl GroupOutlet for SioOutlet {
    fn broadcast(&self, room: &RoomName, sender: Option<Sid>, envelope: &Arc<Envelope>) {
        let Some(namespace) = self.io.of(&self.namespace) else {
            return;
        };
        let room = room.as_str().to_owned();
        // Broadcasting from the sender's own socket excludes it.
        let operators = match sender.and_then(|sid| self.socket(sid)) {
            Some(socket) => socket.to(room),
            None => namespace.to(room),
        };
        // socketioxide's local adapter completes a broadcast synchronously.
        let Some(outcome) = operators.emit(envelope.event(), envelope.data()).now_or_never() else {
            warn!(namespace = %self.namespace, "socket.io adapter did not complete synchronously; event dropped");
            return;
        };
        if let Err(error) = outcome {
            // Queues of slow sockets are full: their packets are dropped and
            // engine.io closes them at their next heartbeat.
            self.dropped.fetch_add(1, Ordering::Relaxed);
            debug!(namespace = %self.namespace, %error, "socket.io broadcast partly dropped");
        }
    }

    fn on_join(&self, sid: Sid, room: &RoomName) {
        if let Some(socket) = self.socket(sid) {
            socket.join(room.as_str().to_owned());
        }
    }

    fn on_leave(&self, sid: Sid, room: &RoomName) {
        if let Some(socket) = self.socket(sid) {
            socket.leave(room.as_str().to_owned());
        }
    }
}
