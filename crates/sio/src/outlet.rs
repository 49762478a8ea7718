//! [`SioOutlet`]: one socket.io namespace as a bus group outlet.
//!
//! socketioxide's room index is this outlet's delivery index. Its room names
//! are prefixed so that the two kinds this outlet keeps there can never
//! collide: `r:<room>` mirrors a bus room, `s:<sid>` holds one socket (every
//! socket joins its own at connect, which lets an emit skip or target
//! single sockets). A client naming a room after another client's sid thus
//! reaches nobody it should not.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures_util::FutureExt;
use socketioxide::socket::Sid as SioSid;
use socketioxide::SocketIo;
use sockgate_core::{Envelope, GroupOutlet, GroupTarget, RoomName, Sid};
use tracing::{debug, warn};

use crate::json::EventArgs;

/// The socketioxide room mirroring bus room `room`.
pub(crate) fn room_key(room: &str) -> String {
    format!("r:{room}")
}

/// The socketioxide room holding only socket `sid`.
pub(crate) fn sid_key(sid: Sid) -> String {
    format!("s:{sid}")
}

/// Delivers bus events to one namespace's sockets through socketioxide's
/// broadcast, which encodes the packet once for all of them.
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
    fn deliver(&self, target: GroupTarget<'_>, except: &[Sid], envelope: &Arc<Envelope>) {
        let Some(namespace) = self.io.of(&self.namespace) else {
            return;
        };
        let (operators, besides) = match target {
            GroupTarget::Rooms { rooms, besides } => (
                namespace.to(rooms.iter().map(|r| room_key(r.as_str())).collect::<Vec<_>>()),
                besides,
            ),
            GroupTarget::All => (namespace, &[][..]),
            GroupTarget::One(sid) => (namespace.to(sid_key(sid)), &[][..]),
        };
        let operators = match (except, besides) {
            ([], []) => operators,
            (except, besides) => operators.except(
                except
                    .iter()
                    .map(|sid| sid_key(*sid))
                    .chain(besides.iter().map(|room| room_key(room.as_str())))
                    .collect::<Vec<_>>(),
            ),
        };
        // Every argument is its own, binary markers become attachments
        // again, and events of recoverable rooms carry their position after
        // the last argument (see `EventArgs`).
        let args = EventArgs::new(envelope.args(), crate::json::position_arg(envelope));
        // socketioxide's local adapter completes a broadcast synchronously.
        let outcome = operators.emit(envelope.event(), &args).now_or_never();
        let Some(outcome) = outcome else {
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
            socket.join(room_key(room.as_str()));
        }
    }

    fn on_leave(&self, sid: Sid, room: &RoomName) {
        if let Some(socket) = self.socket(sid) {
            socket.leave(room_key(room.as_str()));
        }
    }

    fn disconnect(&self, sid: Sid) {
        if let Some(socket) = self.socket(sid) {
            let _ = socket.disconnect();
        }
    }
}
