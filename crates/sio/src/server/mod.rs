//! sockgate's own socket.io server, on sockgate's engine.io sessions
//! (`sockgate-engine`) and socketioxide's wire-format crates.
//!
//! Each namespace connection is a [`Socket`](socket::Socket) that the bus
//! reaches directly (a [`Recipient`](sockgate_core::Recipient)), as it
//! reaches raw WebSocket connections: the bus is the only room index. An
//! event is encoded once per namespace ([`encode`]) and the same frames go
//! into every member's engine.io queue; a full queue closes that session
//! alone.
//!
//! | file | job |
//! |---|---|
//! | `conn.rs` | what one engine.io session holds: its namespace sockets, the partial binary packet |
//! | `dispatch.rs` | the engine's handler: packets in, to the right namespace socket |
//! | `connect.rs` | CONNECT: namespace, auth, limits, bus registration, the answer |
//! | `event.rs` | events from clients: control events onto the bus, others to the backend |
//! | `resume.rs` | sockgate's own resume (`auth.resume`, the `resume` event) |
//! | `socket.rs` | one namespace connection: the bus's recipient, packets out, departure |
//! | `encode.rs` | packets and bus events as engine.io frames, built once |
//! | `recover.rs` | socket.io's connection state recovery (`pid`, offsets) on the rooms' streams |

mod conn;
mod connect;
mod dispatch;
mod encode;
mod event;
mod namespace;
mod recover;
mod resume;
mod socket;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use socketioxide_core::parser::ParseConfig;
use sockgate_core::{ClientBus, ConnectAuth, ConnectionLimiter, EventHandler, Sid};
use sockgate_engine::{Engine, EngineConfig, TransportType};

use crate::SioConfig;
use dispatch::Dispatch;
use namespace::Namespaces;

/// What the server needs from the rest of the gateway, given once the bus exists.
pub(crate) struct Link {
    pub(crate) bus: Arc<dyn ClientBus>,
    pub(crate) auth: ConnectAuth,
    pub(crate) events: Option<Arc<dyn EventHandler>>,
    pub(crate) limiter: Arc<ConnectionLimiter>,
}

/// Counters shared by every namespace.
#[derive(Default)]
pub(crate) struct Counters {
    /// Connections refused by authentication or limits.
    pub(crate) refused: AtomicU64,
    /// Events received from clients.
    pub(crate) events_in: AtomicU64,
}

/// The socket.io server: the engine plus its namespaces.
pub struct SocketIoServer {
    engine: Arc<Engine<Dispatch>>,
    dispatch: Arc<Dispatch>,
}

impl SocketIoServer {
    /// Builds the server; call [`SocketIoServer::attach`] once the bus exists.
    pub fn new(config: SioConfig) -> Self {
        let engine_config = EngineConfig {
            ping_interval: config.ping_interval,
            ping_timeout: config.ping_timeout,
            upgrade_timeout: config.upgrade_timeout,
            max_payload: config.max_payload,
            outbound_queue: config.outbound_queue.max(1),
            ws_read_buffer_bytes: config.ws_read_buffer_bytes,
            allow_eio3: config.allow_eio3,
        };
        let max_payload = usize::try_from(config.max_payload).unwrap_or(usize::MAX);
        // Like Node socket.io: each attachment is one engine.io packet
        // (within max_payload), and there are at most this many.
        let parse = ParseConfig {
            max_incoming_binaries: config.max_binary_attachments,
            max_incoming_binary_buf_size: max_payload.saturating_mul(config.max_binary_attachments.max(1)),
            ..ParseConfig::default()
        };
        let dispatch = Arc::new_cyclic(|me| Dispatch {
            namespaces: Namespaces::new(&config),
            config,
            link: OnceLock::new(),
            counters: Counters::default(),
            parse,
            me: me.clone(),
        });
        let engine = Engine::new(engine_config, dispatch.clone());
        SocketIoServer { engine, dispatch }
    }

    /// Serves every configured namespace on `bus`, letting in the clients
    /// `auth` accepts and handing their non-control events to `events`.
    pub fn attach(
        &self,
        bus: Arc<dyn ClientBus>,
        auth: ConnectAuth,
        events: Option<Arc<dyn EventHandler>>,
        limiter: Arc<ConnectionLimiter>,
    ) {
        let link = Link {
            bus,
            auth,
            events,
            limiter,
        };
        if self.dispatch.link.set(link).is_err() {
            tracing::warn!("socket.io server attached twice; the second bus is ignored");
        }
    }

    /// Serves one request under the engine's path.
    pub async fn handle<B>(&self, req: http::Request<B>, peer: SocketAddr) -> http::Response<Bytes>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: std::fmt::Display,
    {
        self.engine.handle(req, peer).await
    }

    /// Takes every connection off the bus (each leaves its departed
    /// session, and the disconnect webhook is called), then closes the
    /// engine's sessions so that clients reconnect elsewhere.
    pub async fn shut_down(&self) {
        self.dispatch.namespaces.depart_all("server shutting down");
        self.engine.shut_down().await;
    }

    /// A handle on the server's counters, for metrics.
    pub fn counters(&self) -> SocketIoCounters {
        SocketIoCounters {
            engine: self.engine.clone(),
            dispatch: self.dispatch.clone(),
        }
    }
}

/// The socket.io server's counters.
#[derive(Clone)]
pub struct SocketIoCounters {
    engine: Arc<Engine<Dispatch>>,
    dispatch: Arc<Dispatch>,
}

impl SocketIoCounters {
    /// Connections refused by authentication or limits.
    pub fn refused_connections(&self) -> u64 {
        self.dispatch.counters.refused.load(Ordering::Relaxed)
    }

    /// Sessions closed because their queue was full.
    pub fn slow_consumers(&self) -> u64 {
        self.engine.slow_consumers()
    }

    /// Events received from socket.io clients (control events and others).
    pub fn events_in(&self) -> u64 {
        self.dispatch.counters.events_in.load(Ordering::Relaxed)
    }

    /// The transport socket `sid` is on now (`polling` or `websocket`), if
    /// it is connected here.
    pub fn transport_of(&self, sid: Sid) -> Option<&'static str> {
        let socket = self.dispatch.namespaces.socket(sid)?;
        Some(transport_name(socket.transport()))
    }

    /// Open engine.io sessions by transport: (polling, websocket).
    pub fn sessions_by_transport(&self) -> (u64, u64) {
        self.engine.sessions_by_transport()
    }
}

/// A transport as the API and metrics name it.
fn transport_name(transport: TransportType) -> &'static str {
    match transport {
        TransportType::Polling => "polling",
        TransportType::Websocket => "websocket",
    }
}
