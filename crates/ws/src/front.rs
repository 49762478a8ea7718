//! [`RawFront`]: takes upgrade requests from the front listener and runs
//! each accepted connection as a session on the bus.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use sockgate_core::{
    ClientBus, ConnMeta, ConnectAuth, ConnectRequest, ConnectionLimiter, EventHandler, Identity, Protocol,
    Sid,
};
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, info_span, warn, Instrument};

use crate::rejection::Refusal;
use crate::{auth, handshake, run_session, QueueBudget, SessionLinks, WsConfig, WsMetrics};

/// The raw WebSocket front: one per gateway, shared by every request.
#[derive(Clone)]
pub struct RawFront {
    links: SessionLinks,
    config: Arc<WsConfig>,
    auth: ConnectAuth,
    sessions: TaskTracker,
    limiter: Arc<ConnectionLimiter>,
}

impl RawFront {
    /// A front that registers its connections on `bus` once `auth` lets
    /// them in, and hands their `emit`s to `events`.
    pub fn new(
        bus: Arc<dyn ClientBus>,
        config: WsConfig,
        auth: ConnectAuth,
        events: Option<Arc<dyn EventHandler>>,
        limiter: Arc<ConnectionLimiter>,
    ) -> Self {
        RawFront {
            links: SessionLinks {
                bus,
                events,
                shutdown: CancellationToken::new(),
                metrics: Arc::new(WsMetrics::default()),
                budget: QueueBudget::new(config.max_queued_bytes),
            },
            config: Arc::new(config),
            auth,
            sessions: TaskTracker::new(),
            limiter,
        }
    }

    /// Closes every session with 1001 "going away" and refuses new ones;
    /// resolves once every session has ended.
    pub async fn shut_down(&self) {
        self.links.shutdown.cancel();
        self.sessions.close();
        self.sessions.wait().await;
    }

    /// The front's counters.
    pub fn metrics(&self) -> &WsMetrics {
        &self.links.metrics
    }

    /// The memory budget of every raw outbound queue (`limits.max_queued_bytes`).
    pub fn queue_budget(&self) -> &QueueBudget {
        &self.links.budget
    }

    /// The front's settings.
    pub fn config(&self) -> &WsConfig {
        &self.config
    }

    /// Answers an upgrade request: a 101 and a spawned session, or an error
    /// status with a one-line plain-text reason.
    pub fn handle<B>(&self, mut req: Request<B>, peer: SocketAddr) -> Response<Bytes> {
        let accepted = handshake::accept(&req, &self.config.subprotocols);
        self.links.metrics.handshake(accepted.as_ref().map(drop));
        let response = match accepted {
            Ok(response) => response,
            Err(error) => return Refusal::from(error).into_response(),
        };
        // Counted from the upgrade until the session ends.
        let permit = match self.limiter.admit(peer.ip()) {
            Ok(permit) => permit,
            Err(error) => return Refusal::from(error).into_response(),
        };
        let request = auth::connect_request(&req, peer);
        let on_upgrade = hyper::upgrade::on(&mut req);
        let front = self.clone();
        let sid = Sid::random();
        let span = info_span!("raw", %sid, %peer);
        if self.links.shutdown.is_cancelled() {
            return Refusal::ShuttingDown.into_response();
        }
        self.sessions.spawn(
            async move {
                let Some((socket, identity)) = front.open(on_upgrade, request).await else {
                    return;
                };
                info!(
                    protocol = "raw",
                    user = identity.user.as_deref(),
                    "connection open"
                );
                let meta = ConnMeta::new(Protocol::Raw, Some(peer));
                let reason = run_session(socket, sid, identity, meta, &front.links, &front.config).await;
                drop(permit);
                info!(protocol = "raw", reason = reason.as_str(), "connection closed");
            }
            .instrument(span),
        );
        response
    }

    /// Completes the upgrade and authenticates the client; `None` if it
    /// went away or was refused (it was told why). Its own function, so the
    /// long-lived session future does not keep the handshake's state.
    async fn open(
        &self,
        on_upgrade: hyper::upgrade::OnUpgrade,
        request: ConnectRequest,
    ) -> Option<(WebSocketStream<TokioIo<Upgraded>>, Identity)> {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(error) => {
                warn!(%error, "upgrade failed");
                return None;
            }
        };
        let mut socket = WebSocketStream::from_raw_socket(
            TokioIo::new(upgraded),
            Role::Server,
            Some(self.config.tungstenite()),
        )
        .await;
        match auth::authenticate(&mut socket, request, &self.auth, self.config.auth_timeout).await {
            Ok(identity) => Some((socket, identity)),
            Err(error) => {
                info!(protocol = "raw", %error, "connection refused");
                self.links.metrics.auth_refused();
                auth::refuse(&mut socket, &error, self.config.close_timeout).await;
                None
            }
        }
    }

    /// Answers an upgrade to `diagnostics.echo_path`: a 101 and a task that
    /// echoes every message (see `docs/security.md`), or the error status.
    pub fn handle_echo<B>(&self, mut req: Request<B>) -> Response<Bytes> {
        let response = match handshake::accept(&req, &self.config.subprotocols) {
            Ok(response) => response,
            Err(error) => return Refusal::from(error).into_response(),
        };
        let on_upgrade = hyper::upgrade::on(&mut req);
        let config = self.config.clone();
        let shutdown = self.links.shutdown.clone();
        self.sessions.spawn(
            async move {
                let Ok(upgraded) = on_upgrade.await else {
                    return;
                };
                let socket = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(config.tungstenite()),
                )
                .await;
                crate::echo::echo(socket, &config, shutdown).await;
            }
            .instrument(info_span!("echo")),
        );
        response
    }

    /// Whether `req` asks for a WebSocket upgrade.
    pub fn wants_upgrade<B>(req: &Request<B>) -> bool {
        handshake::wants_upgrade(req.headers())
    }
}
