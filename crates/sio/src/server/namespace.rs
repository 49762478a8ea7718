//! The served namespaces (`socketio.namespaces`) and their live sockets.

use std::sync::Arc;

use dashmap::DashMap;
use sockgate_core::Sid;
use sockgate_engine::Str;

use super::socket::Socket;
use crate::SioConfig;

/// One served namespace.
pub(crate) struct Namespace {
    /// Its name, as in packets (`/`, `/chat`).
    pub(crate) name: Str,
    /// Its place in [`Namespaces`], which indexes per-namespace encodings.
    pub(crate) index: usize,
    /// socket.io's connection state recovery is on: the CONNECT answer
    /// carries a `pid` and recoverable events end with a string offset.
    pub(crate) recovery: bool,
    /// Its connected sockets, to find them by id and at shutdown.
    pub(crate) sockets: DashMap<Sid, Arc<Socket>>,
}

/// Every served namespace.
pub(crate) struct Namespaces {
    list: Vec<Arc<Namespace>>,
}

impl Namespaces {
    pub(crate) fn new(config: &SioConfig) -> Self {
        let list = config
            .namespaces
            .iter()
            .enumerate()
            .map(|(index, name)| {
                Arc::new(Namespace {
                    name: Str::from(name.clone()),
                    index,
                    recovery: config.connection_state_recovery,
                    sockets: DashMap::new(),
                })
            })
            .collect();
        Namespaces { list }
    }

    /// The namespace called `name`, if it is served.
    pub(crate) fn get(&self, name: &str) -> Option<&Arc<Namespace>> {
        self.list.iter().find(|ns| &*ns.name == name)
    }

    /// How many namespaces are served.
    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    /// The connected socket `sid`, in whichever namespace.
    pub(crate) fn socket(&self, sid: Sid) -> Option<Arc<Socket>> {
        self.list
            .iter()
            .find_map(|ns| ns.sockets.get(&sid).map(|socket| socket.clone()))
    }

    /// Takes every socket off the bus, for `reason` (shutdown).
    pub(crate) fn depart_all(&self, reason: &str) {
        for ns in &self.list {
            let sockets: Vec<Arc<Socket>> = ns.sockets.iter().map(|entry| entry.value().clone()).collect();
            for socket in sockets {
                socket.depart(reason);
            }
        }
    }
}
