//! The socket.io front, served by socketioxide's server or by sockgate's
//! own (`socketio.engine`) while the second replaces the first.

use std::sync::Arc;

use sockgate_core::{ClientBus, ConnectAuth, ConnectionLimiter, EventHandler, GroupOutlet, Sid};
use sockgate_sio::{
    NotFoundService, SioCounters, SioFront, SocketIoCounters, SocketIoServer, SocketIoService,
};

/// The socket.io front the gateway runs.
pub(crate) enum SioServer {
    /// socketioxide's (namespaces as group outlets).
    Socketioxide(Box<SioFront>),
    /// sockgate's own.
    Sockgate(Arc<SocketIoServer>),
}

/// What the front listener hands socket.io requests to.
#[derive(Clone)]
pub(crate) enum SioService {
    Socketioxide(SocketIoService<NotFoundService>),
    Sockgate(Arc<SocketIoServer>),
}

/// The front's counters, for metrics and the console.
#[derive(Clone)]
pub(crate) enum SioStats {
    Socketioxide(SioCounters),
    Sockgate(SocketIoCounters),
}

impl SioServer {
    /// The group outlets socketioxide's namespaces need from the bus (none for sockgate's).
    pub(crate) fn outlets(&self) -> Vec<Arc<dyn GroupOutlet>> {
        match self {
            SioServer::Socketioxide(front) => front.outlets(),
            SioServer::Sockgate(_) => Vec::new(),
        }
    }

    /// Serves the namespaces on `bus`.
    pub(crate) fn attach(
        &self,
        bus: Arc<dyn ClientBus>,
        groups: &[sockgate_core::GroupId],
        auth: ConnectAuth,
        events: Option<Arc<dyn EventHandler>>,
        limiter: Arc<ConnectionLimiter>,
    ) {
        match self {
            SioServer::Socketioxide(front) => front.attach(bus, groups, auth, events, limiter),
            SioServer::Sockgate(server) => server.attach(bus, auth, events, limiter),
        }
    }

    pub(crate) fn service(&self) -> SioService {
        match self {
            SioServer::Socketioxide(front) => SioService::Socketioxide(front.service()),
            SioServer::Sockgate(server) => SioService::Sockgate(server.clone()),
        }
    }

    pub(crate) fn counters(&self) -> SioStats {
        match self {
            SioServer::Socketioxide(front) => SioStats::Socketioxide(front.counters()),
            SioServer::Sockgate(server) => SioStats::Sockgate(server.counters()),
        }
    }

    /// Takes every connection off the bus, then closes the transports.
    pub(crate) async fn shut_down(&self) {
        match self {
            SioServer::Socketioxide(front) => front.shut_down().await,
            SioServer::Sockgate(server) => server.shut_down().await,
        }
    }
}

impl SioStats {
    /// Connections refused by authentication (and, for sockgate's, limits).
    pub(crate) fn refused_connections(&self) -> u64 {
        match self {
            SioStats::Socketioxide(c) => c.refused_connections(),
            SioStats::Sockgate(c) => c.refused_connections(),
        }
    }

    /// socketioxide's broadcasts in which a full queue dropped packets;
    /// sockgate's closes such sessions instead (counted as slow consumers).
    pub(crate) fn dropped_broadcasts(&self) -> u64 {
        match self {
            SioStats::Socketioxide(c) => c.dropped_broadcasts(),
            SioStats::Sockgate(_) => 0,
        }
    }

    /// Sessions closed as slow consumers (socketioxide's drop packets
    /// instead: none).
    pub(crate) fn slow_consumers(&self) -> u64 {
        match self {
            SioStats::Socketioxide(_) => 0,
            SioStats::Sockgate(c) => c.slow_consumers(),
        }
    }

    /// Events received from clients.
    pub(crate) fn events_in(&self) -> u64 {
        match self {
            SioStats::Socketioxide(c) => c.events_in(),
            SioStats::Sockgate(c) => c.events_in(),
        }
    }

    /// The transport of socket `sid`, if it is connected here.
    pub(crate) fn transport_of(&self, sid: Sid) -> Option<&'static str> {
        match self {
            SioStats::Socketioxide(c) => c.transport_of(sid),
            SioStats::Sockgate(c) => c.transport_of(sid),
        }
    }

    /// (polling, websocket): sockets for socketioxide's, engine.io sessions for sockgate's.
    pub(crate) fn sockets_by_transport(&self) -> (u64, u64) {
        match self {
            SioStats::Socketioxide(c) => c.sockets_by_transport(),
            SioStats::Sockgate(c) => c.sessions_by_transport(),
        }
    }
}
