//! A socket.io connection leaves the bus exactly once: from its disconnect
//! handler, or from the front's shutdown.
//!
//! The shutdown needs its own way out because socketioxide's
//! `SocketIo::close` takes the namespaces away before it closes their
//! sockets, so the engine finds no socket to hand the disconnect to, and no
//! disconnect handler runs: without this, a socket.io client would leave no
//! departed session (it could not resume) and no disconnect webhook.

use std::collections::HashMap;
use std::sync::Mutex;

use sockgate_core::{ConnectionPermit, Sid};
use tokio_util::task::TaskTracker;
use tracing::info;

use crate::bridge::Bridge;

/// What a connection's departure needs, kept from its arrival.
pub(crate) struct Leaving {
    /// Its place among live connections, given back on departure.
    pub(crate) permit: ConnectionPermit,
    /// The namespace, for the log.
    pub(crate) ns: String,
    /// The client's address, for the log.
    pub(crate) peer: String,
}

/// The connections of one namespace that are on the bus.
pub(crate) struct Departures {
    live: Mutex<HashMap<Sid, Leaving>>,
    /// One token per departure under way, shared by every namespace, so
    /// that the front's shutdown can wait for the last of them.
    under_way: TaskTracker,
}

impl Departures {
    pub(crate) fn new(under_way: TaskTracker) -> Self {
        Departures {
            live: Mutex::new(HashMap::new()),
            under_way,
        }
    }

    /// Records a connection that was put on the bus.
    pub(crate) fn arrived(&self, sid: Sid, leaving: Leaving) {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sid, leaving);
    }

    /// The connections still here.
    pub(crate) fn remaining(&self) -> Vec<Sid> {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.keys().copied().collect()
    }
}

impl Bridge {
    /// Takes `sid` off the bus and tells the backend why, unless that was
    /// done already.
    pub(crate) fn depart(&self, sid: Sid, reason: &str) {
        // The token is taken under the lock, so a shutdown that no longer
        // finds the connection waits for this departure to end.
        let claimed = {
            let mut live = self.departures.live.lock().unwrap_or_else(|p| p.into_inner());
            live.remove(&sid)
                .map(|leaving| (leaving, self.departures.under_way.token()))
        };
        let Some((Leaving { permit, ns, peer }, _under_way)) = claimed else {
            return;
        };
        drop(permit);
        if let Ok(mut welcomes) = self.welcomes.lock() {
            welcomes.remove(&sid);
        }
        let snapshot = self.bus.connection(sid);
        self.bus.disconnect(sid);
        if let (Some(snapshot), Some(events)) = (snapshot, self.events.as_ref()) {
            events.on_disconnect(snapshot, reason);
        }
        info!(protocol = "socket.io", %sid, %ns, %peer, %reason, "connection closed");
    }
}
