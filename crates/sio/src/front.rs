//! [`SioFront`]: builds the socketioxide engine and attaches it to the bus.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use engineioxide::service::NotFoundService;
use socketioxide::service::SocketIoService;
use socketioxide::socket::DisconnectReason;
use socketioxide::{ParserConfig, SocketIo, TransportType};
use sockgate_core::{ClientBus, ConnectAuth, ConnectionLimiter, EventHandler, GroupId, GroupOutlet};
use tokio_util::task::TaskTracker;

use crate::bridge::{Bridge, Connector};
use crate::departure::Departures;
use crate::outlet::SioOutlet;
use crate::SioConfig;

/// The socket.io front: the engine's HTTP service plus its namespaces.
pub struct SioFront {
    service: SocketIoService<NotFoundService>,
    io: SocketIo,
    config: SioConfig,
    dropped: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
    events_in: Arc<AtomicU64>,
    /// One per namespace, to find the connections still there at shutdown.
    bridges: Mutex<Vec<Arc<Bridge>>>,
    /// Departures under way, in every namespace.
    under_way: TaskTracker,
}

impl SioFront {
    /// Builds the engine; call [`SioFront::attach`] once the bus exists.
    pub fn new(config: SioConfig) -> Self {
        let max_payload = usize::try_from(config.max_payload).unwrap_or(usize::MAX);
        let (service, io) = SocketIo::builder()
            .req_path(config.path.trim_end_matches('/').to_owned())
            .ping_interval(config.ping_interval)
            .ping_timeout(config.ping_timeout)
            .connect_timeout(config.connect_timeout)
            .max_payload(config.max_payload)
            // socketioxide applies max_payload to polling only; bound the
            // websocket transport the same way (tungstenite's default is 64 MiB).
            .ws_read_buffer_size(config.ws_read_buffer_bytes)
            .ws_max_message_size(max_payload)
            .ws_max_frame_size(max_payload)
            .max_buffer_size(config.outbound_queue.max(1))
            .transports([TransportType::Polling, TransportType::Websocket])
            // Like Node socket.io: each attachment is one engine.io packet
            // (within max_payload), and there are at most this many.
            .with_parser(
                ParserConfig::common()
                    .max_incoming_binaries(config.max_binary_attachments)
                    .max_incoming_binary_buf_size(
                        max_payload.saturating_mul(config.max_binary_attachments.max(1)),
                    ),
            )
            .build_svc();
        SioFront {
            service,
            io,
            config,
            dropped: Arc::new(AtomicU64::new(0)),
            refused: Arc::new(AtomicU64::new(0)),
            events_in: Arc::new(AtomicU64::new(0)),
            bridges: Mutex::new(Vec::new()),
            under_way: TaskTracker::new(),
        }
    }

    /// One group outlet per served namespace, in `config.namespaces` order;
    /// give them to the bus and pass the ids back to [`SioFront::attach`].
    pub fn outlets(&self) -> Vec<Arc<dyn GroupOutlet>> {
        self.config
            .namespaces
            .iter()
            .map(|ns| {
                Arc::new(SioOutlet::new(self.io.clone(), ns.clone(), self.dropped.clone()))
                    as Arc<dyn GroupOutlet>
            })
            .collect()
    }

    /// Serves every configured namespace on `bus`, letting in the clients
    /// `auth` accepts and handing their non-control events to `events`;
    /// `groups[i]` is the id the bus gave to `outlets()[i]`.
    pub fn attach(
        &self,
        bus: Arc<dyn ClientBus>,
        groups: &[GroupId],
        auth: ConnectAuth,
        events: Option<Arc<dyn EventHandler>>,
        limiter: Arc<ConnectionLimiter>,
    ) {
        for (namespace, &group) in self.config.namespaces.iter().zip(groups) {
            let bridge = Arc::new(Bridge {
                bus: bus.clone(),
                group,
                auth: auth.clone(),
                events: events.clone(),
                names: self.config.events.clone(),
                welcomes: Default::default(),
                refused: self.refused.clone(),
                events_in: self.events_in.clone(),
                rate: (self.config.messages_per_second, self.config.message_burst),
                limiter: limiter.clone(),
                departures: Departures::new(self.under_way.clone()),
            });
            self.io.ns(namespace.clone(), Connector(bridge.clone()));
            self.bridges
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(bridge);
        }
    }

    /// The engine's HTTP service, for the front listener.
    pub fn service(&self) -> SocketIoService<NotFoundService> {
        self.service.clone()
    }

    /// Takes every connection off the bus (each leaves its departed
    /// session, and the disconnect webhook is called), then closes their
    /// transports, so that clients reconnect elsewhere. Resolves once all
    /// of that is done.
    ///
    /// Off the bus first: the departed sessions are on their way to the
    /// cluster before the clients can come back on another node. And by
    /// the front itself: socketioxide's `close` runs no disconnect handler
    /// (see `departure.rs`).
    pub async fn shut_down(&self) {
        let bridges = self.bridges.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let reason = DisconnectReason::ClosingServer.to_string();
        for bridge in &bridges {
            for sid in bridge.departures.remaining() {
                bridge.depart(sid, &reason);
            }
        }
        self.io.close().await;
        // Departures a disconnect handler had started meanwhile.
        self.under_way.close();
        self.under_way.wait().await;
    }

    /// The socketioxide handle (for shutdown and inspection).
    pub fn io(&self) -> &SocketIo {
        &self.io
    }

    /// A handle on the front's counters, for metrics.
    pub fn counters(&self) -> SioCounters {
        SioCounters {
            dropped: self.dropped.clone(),
            refused: self.refused.clone(),
            events_in: self.events_in.clone(),
            io: self.io.clone(),
            namespaces: self.config.namespaces.clone(),
        }
    }
}

/// The socket.io front's counters.
#[derive(Clone)]
pub struct SioCounters {
    dropped: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
    events_in: Arc<AtomicU64>,
    io: SocketIo,
    namespaces: Vec<String>,
}

impl SioCounters {
    /// Connections refused by authentication.
    pub fn refused_connections(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Broadcasts in which at least one socket's queue was full.
    pub fn dropped_broadcasts(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Events received from socket.io clients (control events and others).
    pub fn events_in(&self) -> u64 {
        self.events_in.load(Ordering::Relaxed)
    }

    /// The transport socket `sid` is on now (`polling` or `websocket`), if
    /// it is connected here.
    pub fn transport_of(&self, sid: sockgate_core::Sid) -> Option<&'static str> {
        let sid: socketioxide::socket::Sid = sid.as_str().parse().ok()?;
        let socket = self
            .namespaces
            .iter()
            .find_map(|namespace| self.io.of(namespace)?.get_socket(sid))?;
        Some(match socket.transport_type() {
            TransportType::Polling => "polling",
            TransportType::Websocket => "websocket",
        })
    }

    /// Connected sockets by transport: (polling, websocket).
    pub fn sockets_by_transport(&self) -> (u64, u64) {
        let mut counts = (0, 0);
        for namespace in &self.namespaces {
            for socket in self.io.of(namespace).map(|ns| ns.sockets()).unwrap_or_default() {
                match socket.transport_type() {
                    TransportType::Polling => counts.0 += 1,
                    TransportType::Websocket => counts.1 += 1,
                }
            }
        }
        counts
    }
}
