//! [`Engine`]: the session registry and the entry point for every request
//! under the engine path.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use engineioxide_core::Sid;
use tokio_util::task::TaskTracker;

use crate::{EngineConfig, EngineHandler, Session};

/// What every session of an engine shares: settings and counters.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: EngineConfig,
    slow_consumers: AtomicU64,
    pub(crate) polling: AtomicU64,
    pub(crate) websocket: AtomicU64,
}

impl Shared {
    pub(crate) fn slow_consumer(&self) {
        self.slow_consumers.fetch_add(1, Ordering::Relaxed);
    }
}

/// The engine: owns the session registry; the front listener hands it every
/// request under the engine path.
pub struct Engine<H: EngineHandler> {
    pub(crate) shared: Arc<Shared>,
    pub(crate) handler: Arc<H>,
    /// Sharded, so that requests for different sessions do not contend.
    pub(crate) sessions: DashMap<Sid, Arc<Session<H::Data>>>,
    /// Every session's task (polling timer, websocket), for the shutdown.
    pub(crate) tasks: TaskTracker,
    pub(crate) shutting_down: AtomicBool,
}

impl<H: EngineHandler> Engine<H> {
    /// An engine with these settings, handing its sessions to `handler`.
    pub fn new(config: EngineConfig, handler: Arc<H>) -> Arc<Self> {
        Arc::new(Engine {
            shared: Arc::new(Shared {
                config,
                slow_consumers: AtomicU64::new(0),
                polling: AtomicU64::new(0),
                websocket: AtomicU64::new(0),
            }),
            handler,
            sessions: DashMap::new(),
            tasks: TaskTracker::new(),
            shutting_down: AtomicBool::new(false),
        })
    }

    /// Serves one engine.io request (polling GET/POST, websocket upgrade with
    /// or without sid). The router has already checked origin, connect rate,
    /// subprotocol, path and EIO=3 permission; it inserts nothing else.
    pub async fn handle<B>(
        self: &Arc<Self>,
        req: http::Request<B>,
        peer: SocketAddr,
    ) -> http::Response<bytes::Bytes>
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + Unpin + 'static,
        B::Error: std::fmt::Display,
    {
        let _ = (req, peer);
        unimplemented!("engine.io request handling")
    }

    /// The open session with this id.
    pub fn session(&self, id: &Sid) -> Option<Arc<Session<H::Data>>> {
        self.sessions.get(id).map(|s| s.value().clone())
    }

    /// Open sessions by current transport: (polling, websocket).
    pub fn sessions_by_transport(&self) -> (u64, u64) {
        (
            self.shared.polling.load(Ordering::Relaxed),
            self.shared.websocket.load(Ordering::Relaxed),
        )
    }

    /// Sessions closed as slow consumers since start.
    pub fn slow_consumers(&self) -> u64 {
        self.shared.slow_consumers.load(Ordering::Relaxed)
    }

    /// Closes every session (`on_close(ShuttingDown)` for each) and resolves
    /// when all are gone.
    pub async fn shut_down(&self) {
        self.shutting_down.store(true, Ordering::Release);
        for session in self.sessions.iter() {
            session.close(crate::CloseReason::ShuttingDown);
        }
        self.tasks.close();
        self.tasks.wait().await;
    }
}
