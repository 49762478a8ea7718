//! [`SioFront`]: builds the socketioxide engine and attaches it to the bus.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use engineioxide::service::NotFoundService;
use socketioxide::service::SocketIoService;
use socketioxide::{ParserConfig, SocketIo, TransportType};
use sockgate_core::{Bus, ConnectAuth, ConnectionLimiter, EventHandler, GroupId, GroupOutlet};

use crate::bridge::{Bridge, Connector};
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
        bus: Arc<dyn Bus>,
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
            });
            self.io.ns(namespace.clone(), Connector(bridge));
        }
    }

    /// The engine's HTTP service, for the front listener.
    pub fn service(&self) -> SocketIoService<NotFoundService> {
        self.service.clone()
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
