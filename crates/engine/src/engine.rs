//! [`Engine`]: the session registry and the entry point for every request
//! under the engine path.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use engineioxide_core::Sid;
use tokio_util::task::TaskTracker;

use engineioxide_core::{ProtocolVersion, TransportType};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use sockgate_queue::Receiver;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;
use tracing::Instrument;

use crate::error::Refusal;
use crate::frame::Frame;
use crate::request::{self, Query};
use crate::session::{PollSlot, State};
use crate::{polling, websocket, CloseReason, EngineConfig, EngineHandler, Handshake, Session};

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

    /// A polling session completed its upgrade.
    pub(crate) fn moved_to_websocket(&self) {
        self.polling.fetch_sub(1, Ordering::Relaxed);
        self.websocket.fetch_add(1, Ordering::Relaxed);
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
        let query = match request::parse(&req, &self.shared.config) {
            Ok(query) => query,
            Err(refusal) => return refusal.into_response(),
        };
        let Some(sid) = query.sid else {
            if self.shutting_down.load(Ordering::Acquire) {
                return Refusal::ShuttingDown.into_response();
            }
            return match query.transport {
                TransportType::Polling => self.open_polling(req, peer, query).await,
                TransportType::Websocket => self.open_websocket(req, peer, query),
            };
        };
        let Some(session) = self.session(&sid) else {
            return Refusal::UnknownSid.into_response();
        };
        if session.protocol() != query.protocol {
            return Refusal::BadRequest.into_response();
        }
        // A closed session is gone for the client, except that a session the
        // server closed keeps its close packet for the client's next poll.
        if session.is_closed() {
            let lingers = session.awaits_last_poll();
            let poll = query.transport == TransportType::Polling && req.method() == http::Method::GET;
            if !(lingers && poll) {
                return Refusal::UnknownSid.into_response();
            }
        }
        match (query.transport, session.state()) {
            // Once on websocket, polling requests are refused (Node:
            // "TRANSPORT_MISMATCH"); during the upgrade they are served.
            (TransportType::Polling, State::Websocket) => Refusal::BadRequest.into_response(),
            (TransportType::Polling, _) if req.method() == http::Method::GET => {
                // Not kept while the poll waits: its URI and headers are
                // slices of the connection's whole read buffer.
                drop(req);
                polling::get(&session, self.shared.config.max_payload).await
            }
            (TransportType::Polling, _) if req.method() == http::Method::POST => {
                polling::post(self, &session, req).await
            }
            (TransportType::Polling, _) => Refusal::BadRequest.into_response(),
            (TransportType::Websocket, _) if !query.upgrade => Refusal::BadRequest.into_response(),
            (TransportType::Websocket, _) => self.upgrade_websocket(req, session),
        }
    }

    /// Opens a session on polling and answers the handshake GET with its
    /// open packet (and whatever the handler queued in `on_open`).
    async fn open_polling<B>(
        self: &Arc<Self>,
        req: http::Request<B>,
        peer: SocketAddr,
        query: Query,
    ) -> http::Response<bytes::Bytes> {
        let (parts, _body) = req.into_parts();
        let handshake = Handshake::detached(&parts.uri, parts.headers, peer);
        let (session, rx) = self.open(query, TransportType::Polling, handshake);
        *session.receiver() = Some(PollSlot { rx, held: None });
        self.tasks.spawn(polling::drive(self.clone(), session.clone()));
        polling::get(&session, self.shared.config.max_payload).await
    }

    /// Answers a websocket handshake without sid with a 101, and opens the
    /// session on websocket once the connection is upgraded.
    fn open_websocket<B>(
        self: &Arc<Self>,
        mut req: http::Request<B>,
        peer: SocketAddr,
        query: Query,
    ) -> http::Response<bytes::Bytes> {
        let response = match switching_protocols(&req) {
            Ok(response) => response,
            Err(refusal) => return refusal.into_response(),
        };
        let on_upgrade = hyper::upgrade::on(&mut req);
        let (parts, _body) = req.into_parts();
        let handshake = Handshake::detached(&parts.uri, parts.headers, peer);
        drop(parts.extensions);
        let engine = self.clone();
        self.tasks.spawn(async move {
            let Some(socket) = engine.websocket(on_upgrade).await else {
                return;
            };
            let (session, rx) = engine.open(query, TransportType::Websocket, handshake);
            let span = tracing::debug_span!("engine.io", sid = %session.id(), %peer);
            websocket::run(&engine, &session, socket, rx)
                .instrument(span)
                .await;
        });
        response
    }

    /// Answers a websocket handshake with the sid of a polling session: a
    /// 101, and the upgrade probed in a task.
    fn upgrade_websocket<B>(
        self: &Arc<Self>,
        mut req: http::Request<B>,
        session: Arc<Session<H::Data>>,
    ) -> http::Response<bytes::Bytes> {
        let response = match switching_protocols(&req) {
            Ok(response) => response,
            Err(refusal) => return refusal.into_response(),
        };
        let on_upgrade = hyper::upgrade::on(&mut req);
        drop(req);
        // One upgrade at a time, and only from polling. As Node does ("transport
        // has already been upgraded"), the connection is accepted, then closed.
        if !session.transition(State::Polling, State::Upgrading) {
            let engine = self.clone();
            self.tasks.spawn(async move {
                if let Some(mut socket) = engine.websocket(on_upgrade).await {
                    let _ = tokio::time::timeout(Duration::from_secs(2), socket.close(None)).await;
                }
            });
            return response;
        }
        let engine = self.clone();
        let span = tracing::debug_span!("engine.io", sid = %session.id());
        self.tasks.spawn(
            async move {
                match engine.websocket(on_upgrade).await {
                    Some(socket) => websocket::upgrade(&engine, &session, socket).await,
                    None => {
                        session.transition(State::Upgrading, State::Polling);
                    }
                }
            }
            .instrument(span),
        );
        response
    }

    /// The upgraded connection as a websocket with the engine's limits.
    async fn websocket(
        &self,
        on_upgrade: hyper::upgrade::OnUpgrade,
    ) -> Option<WebSocketStream<TokioIo<Upgraded>>> {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(error) => {
                tracing::debug!(%error, "upgrade failed");
                return None;
            }
        };
        let config = &self.shared.config;
        Some(
            WebSocketStream::from_raw_socket(
                TokioIo::new(upgraded),
                Role::Server,
                Some(config.tungstenite()),
            )
            .await,
        )
    }

    /// Registers a new session, queues its open packet first, and tells the
    /// handler.
    fn open(
        &self,
        query: Query,
        transport: TransportType,
        handshake: Handshake,
    ) -> (Arc<Session<H::Data>>, Receiver<Frame>) {
        let sid = loop {
            let sid = Sid::new();
            if !self.sessions.contains_key(&sid) {
                break sid;
            }
        };
        let (session, rx) = Session::new(
            sid,
            query.protocol,
            transport,
            query.b64,
            handshake,
            self.shared.clone(),
            H::Data::default(),
        );
        let session = Arc::new(session);
        let _ = session.send_control(Frame::packet(open_packet(
            &self.shared.config,
            sid,
            query.protocol,
            transport,
        )));
        match transport {
            TransportType::Polling => self.shared.polling.fetch_add(1, Ordering::Relaxed),
            TransportType::Websocket => self.shared.websocket.fetch_add(1, Ordering::Relaxed),
        };
        self.sessions.insert(sid, session.clone());
        tracing::debug!(%sid, protocol = %query.protocol, transport = <&str>::from(transport), "session open");
        self.handler.on_open(&session);
        (session, rx)
    }

    /// Tells the handler a session ended (once) and uncounts it.
    pub(crate) fn finish(&self, session: &Arc<Session<H::Data>>) {
        if !session.take_finish() {
            return;
        }
        let reason = session.close_reason().unwrap_or(CloseReason::TransportClose);
        match session.transport() {
            TransportType::Polling => self.shared.polling.fetch_sub(1, Ordering::Relaxed),
            TransportType::Websocket => self.shared.websocket.fetch_sub(1, Ordering::Relaxed),
        };
        tracing::debug!(sid = %session.id(), reason = reason.as_str(), "session closed");
        self.handler.on_close(session, reason);
    }

    /// Takes a finished session out of the registry.
    pub(crate) fn forget(&self, session: &Arc<Session<H::Data>>) {
        self.sessions
            .remove_if(&session.id(), |_, s| Arc::ptr_eq(s, session));
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

/// The 101 for a valid websocket handshake (the router adds the subprotocol).
fn switching_protocols<B>(req: &http::Request<B>) -> Result<http::Response<bytes::Bytes>, Refusal> {
    use http::header::{CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE};
    let headers = req.headers();
    if req.method() != http::Method::GET
        || headers.get(SEC_WEBSOCKET_VERSION).map(|v| v.as_bytes()) != Some(b"13")
    {
        return Err(Refusal::BadRequest);
    }
    let key = headers.get(SEC_WEBSOCKET_KEY).ok_or(Refusal::BadRequest)?;
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let mut response = http::Response::new(bytes::Bytes::new());
    *response.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(CONNECTION, http::HeaderValue::from_static("Upgrade"));
    headers.insert(UPGRADE, http::HeaderValue::from_static("websocket"));
    headers.insert(
        SEC_WEBSOCKET_ACCEPT,
        http::HeaderValue::from_str(&accept).map_err(|_| Refusal::BadRequest)?,
    );
    Ok(response)
}

/// The open packet: v4 advertises `maxPayload`, v3 does not; a session
/// opened on websocket has no upgrade to offer.
fn open_packet(
    config: &EngineConfig,
    sid: Sid,
    protocol: ProtocolVersion,
    transport: TransportType,
) -> String {
    let upgrades = match transport {
        TransportType::Polling => r#"["websocket"]"#,
        TransportType::Websocket => "[]",
    };
    let (interval, timeout) = (config.ping_interval.as_millis(), config.ping_timeout.as_millis());
    match protocol {
        ProtocolVersion::V4 => format!(
            r#"0{{"sid":"{sid}","upgrades":{upgrades},"pingInterval":{interval},"pingTimeout":{timeout},"maxPayload":{}}}"#,
            config.max_payload
        ),
        ProtocolVersion::V3 => {
            format!(
                r#"0{{"sid":"{sid}","upgrades":{upgrades},"pingInterval":{interval},"pingTimeout":{timeout}}}"#
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_packets_carry_node_fields() {
        let config = EngineConfig::default();
        let sid: Sid = "AAAAAAAAAAAAAAAA".parse().unwrap();
        let v4 = open_packet(&config, sid, ProtocolVersion::V4, TransportType::Polling);
        assert_eq!(
            v4,
            r#"0{"sid":"AAAAAAAAAAAAAAAA","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":100000}"#
        );
        let v3 = open_packet(&config, sid, ProtocolVersion::V3, TransportType::Websocket);
        assert_eq!(
            v3,
            r#"0{"sid":"AAAAAAAAAAAAAAAA","upgrades":[],"pingInterval":25000,"pingTimeout":20000}"#
        );
    }
}
