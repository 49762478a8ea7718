//! The front listener's dispatch: which front answers a request, decided
//! from its path and upgrade headers alone.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, SEC_WEBSOCKET_PROTOCOL};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body as _;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use sockgate_backend::Api;
use sockgate_core::query_param;
use sockgate_engine::{EchoHandler, Engine, EngineConfig};
use sockgate_sio::SocketIoServer;
use sockgate_ws::{negotiate_subprotocol, RawFront, SubprotocolChoice};

use crate::body_deadline::{BodyDeadline, TimedBody};
use crate::client_addr::TrustedProxies;
use crate::connect_rate::ConnectRate;
use crate::console::Console;
use crate::metrics::Telemetry;
use crate::origin::{add_cors, add_preflight, OriginCheck, OriginPolicy};
use crate::readiness::Readiness;
use crate::rejection::{plain_text, Refusal};
use crate::GatewayConfig;

/// Every response body the listener sends.
pub(crate) type Body = UnsyncBoxBody<Bytes, BoxError>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Routes requests to the socket.io engine, the raw front or the health check.
pub(crate) struct Router {
    sio_path: String,
    sio: Arc<SocketIoServer>,
    raw_paths: Vec<String>,
    raw: RawFront,
    api: Api,
    readiness: Arc<Readiness>,
    path_prefix: String,
    proxies: TrustedProxies,
    origins: OriginPolicy,
    connect_rate: ConnectRate,
    bodies: BodyDeadline,
    echo_path: Option<String>,
    /// `diagnostics.engineio_echo_path` and its bare engine.io engine.
    engine_echo: Option<(String, Arc<Engine<EchoHandler>>)>,
    metrics: Option<(String, Arc<Telemetry>)>,
    console: Console,
}

impl Router {
    pub(crate) fn new(
        config: &GatewayConfig,
        sio: Arc<SocketIoServer>,
        raw: RawFront,
        api: Api,
        readiness: Arc<Readiness>,
        telemetry: Arc<Telemetry>,
    ) -> Self {
        Router {
            sio_path: config.socketio.path.clone(),
            sio,
            raw_paths: config.raw_paths.clone(),
            raw,
            api,
            readiness,
            path_prefix: config.path_prefix.clone(),
            proxies: TrustedProxies::new(config.trusted_proxies.clone(), config.forwarded_header),
            origins: OriginPolicy::new(config.allowed_origins.clone()),
            echo_path: config.echo_path.clone(),
            engine_echo: config.engineio_echo_path.clone().map(|path| {
                let engine = EngineConfig {
                    ping_interval: config.socketio.ping_interval,
                    ping_timeout: config.socketio.ping_timeout,
                    upgrade_timeout: config.socketio.upgrade_timeout,
                    max_payload: config.socketio.max_payload,
                    outbound_queue: config.socketio.outbound_queue,
                    ws_read_buffer_bytes: config.socketio.ws_read_buffer_bytes,
                    allow_eio3: config.socketio.allow_eio3,
                };
                (path, Engine::new(engine, Arc::new(EchoHandler)))
            }),
            console: Console::new(config),
            connect_rate: ConnectRate::new(config.connects_per_second_per_ip, config.connect_burst_per_ip),
            bodies: BodyDeadline::new(config.body_read_timeout, config.max_connections_per_ip),
            // Metrics on their own listener are not served here.
            metrics: config
                .metrics_path
                .clone()
                .filter(|_| config.metrics_listen.is_none())
                .map(|path| (path, telemetry)),
        }
    }

    pub(crate) async fn route(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Result<Response<Body>, Infallible> {
        let req = match self.strip_prefix(req) {
            Ok(req) => req,
            Err(response) => return Ok(response),
        };
        // From here on "peer" is the client, behind trusted proxies if any.
        let peer = self.proxies.client(peer, req.headers());
        let path = req.uri().path();
        // Pages and the socket.io browser client, compiled into the binary.
        if matches!(*req.method(), Method::GET | Method::HEAD) && !RawFront::wants_upgrade(&req) {
            if let Some(response) = self.console.serve(path) {
                return Ok(response.map(full));
            }
        }
        // socket.io first: its path is a prefix (engine.io adds nothing to it
        // but the query string, yet clients may or may not send the slash).
        if path.starts_with(&self.sio_path) || path == self.sio_path.trim_end_matches('/') {
            return Ok(self.socketio(req, peer).await);
        }
        // Diagnostics: a bare engine.io endpoint for the engine.io-protocol suite.
        if let Some((echo_path, engine)) = &self.engine_echo {
            if path.starts_with(echo_path.as_str()) || path == echo_path.trim_end_matches('/') {
                let engine = engine.clone();
                return Ok(self.engineio_echo(req, peer, &engine).await);
            }
        }
        let upgrade = RawFront::wants_upgrade(&req);
        if self.raw_paths.iter().any(|p| p == path) {
            // Browsers send Origin; other clients are not checked.
            if self.origins.check(req.headers()) == OriginCheck::Refused {
                return Ok(refuse(Refusal::OriginNotAllowed));
            }
            if !upgrade {
                return Ok(refuse(Refusal::UpgradeRequired));
            }
            if let Err(wait) = self.connect_rate.admit(peer.ip(), Instant::now()) {
                return Ok(refuse(Refusal::ConnectRate { wait }));
            }
            return Ok(self.raw.handle(req, peer).map(full));
        }
        // Diagnostics: echo for conformance suites, when configured.
        if self.echo_path.as_deref() == Some(path) && upgrade {
            return Ok(self.raw.handle_echo(req).map(full));
        }
        // The backend's API, only when keys are configured.
        if self.api.owns(path) {
            if req.body().is_end_stream() {
                return Ok(self.api.handle(req).await.map(full));
            }
            return Ok(match self.timed(req, peer) {
                Ok(req) => self.api.handle(req).await.map(full),
                Err(refusal) => refusal,
            });
        }
        let probe = !upgrade && matches!(*req.method(), Method::GET | Method::HEAD);
        // Liveness: the process answers.
        if path == "/healthz" && probe {
            return Ok(text(StatusCode::OK, "ok\n"));
        }
        // Prometheus scrapes.
        if let Some((metrics_path, telemetry)) = &self.metrics {
            if path == metrics_path && probe {
                let mut response = text(StatusCode::OK, telemetry.render());
                response.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                return Ok(response);
            }
        }
        // Readiness: send it clients (a load balancer's check).
        if path == "/readyz" && probe {
            return Ok(match self.readiness.check() {
                Ok(()) => text(StatusCode::OK, "ready\n"),
                Err(reason) => refuse(Refusal::NotReady(reason)),
            });
        }
        // Anything else, upgrade or not, is not ours: never switch protocols here.
        Ok(refuse(Refusal::NotFound))
    }

    /// With `server.path_prefix`, serves everything under the prefix, as
    /// if the proxy had stripped it; probes answer at the root too, where
    /// load balancers and orchestrators usually ask.
    #[allow(clippy::result_large_err)]
    fn strip_prefix(&self, mut req: Request<Incoming>) -> Result<Request<Incoming>, Response<Body>> {
        if self.path_prefix.is_empty() {
            return Ok(req);
        }
        let path = req.uri().path();
        let Some(rest) = path.strip_prefix(self.path_prefix.as_str()) else {
            return match path {
                "/healthz" | "/readyz" => Ok(req),
                _ => Err(refuse(Refusal::NotFound)),
            };
        };
        if !(rest.is_empty() || rest.starts_with('/')) {
            return Err(refuse(Refusal::NotFound));
        }
        let rest = if rest.is_empty() { "/" } else { rest };
        let path_and_query = match req.uri().query() {
            Some(query) => format!("{rest}?{query}"),
            None => rest.to_owned(),
        };
        let mut parts = req.uri().clone().into_parts();
        parts.path_and_query = path_and_query.parse().ok();
        if let Ok(uri) = http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
        Ok(req)
    }

    /// The origin an engine.io request may get CORS headers for, or the
    /// whole answer: a refusal, or a long-polling CORS preflight.
    #[allow(clippy::result_large_err)]
    fn engine_origin(&self, req: &Request<Incoming>) -> Result<Option<HeaderValue>, Response<Body>> {
        let cors = match self.origins.check(req.headers()) {
            OriginCheck::Refused => return Err(refuse(Refusal::OriginNotAllowed)),
            OriginCheck::Allowed(origin) => Some(origin),
            OriginCheck::Unchecked => None,
        };
        // A CORS preflight for long-polling from an allowed origin.
        if req.method() == Method::OPTIONS {
            let mut response = text(StatusCode::NO_CONTENT, "");
            if let Some(origin) = cors {
                add_cors(response.headers_mut(), origin);
                add_preflight(response.headers_mut(), req.headers());
            }
            return Err(response);
        }
        Ok(cors)
    }

    async fn socketio(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let cors = match self.engine_origin(&req) {
            Ok(cors) => cors,
            Err(answer) => return answer,
        };
        // A request without a sid opens a new engine.io session.
        let opens_session = query_param(req.uri().query(), "sid").is_none();
        let mut response = match opens_session {
            true => match self.connect_rate.admit(peer.ip(), Instant::now()) {
                Ok(()) => self.engine(req, peer).await,
                Err(wait) => refuse(Refusal::ConnectRate { wait }),
            },
            // Polling POSTs: their body must arrive in time.
            false if !req.body().is_end_stream() => match self.timed(req, peer) {
                Ok(req) => self.engine(req, peer).await,
                Err(refusal) => refusal,
            },
            false => self.engine(req, peer).await,
        };
        if let Some(origin) = cors {
            add_cors(response.headers_mut(), origin);
        }
        response
    }

    /// Serves `diagnostics.engineio_echo_path` with sockgate's own engine:
    /// the same origin check, subprotocol echo and POST body deadline as
    /// socket.io, and no connect rate (it is not for production).
    async fn engineio_echo(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        engine: &Arc<Engine<EchoHandler>>,
    ) -> Response<Body> {
        let cors = match self.engine_origin(&req) {
            Ok(cors) => cors,
            Err(answer) => return answer,
        };
        // The 101 must name the subprotocol the client offered, if any.
        let protocol = match negotiate_subprotocol(req.headers(), &self.raw.config().subprotocols) {
            SubprotocolChoice::Selected(name) => HeaderValue::from_str(name).ok(),
            SubprotocolChoice::NoneOffered => None,
            SubprotocolChoice::Rejected => return refuse(Refusal::Subprotocol),
        };
        let mut response = if req.body().is_end_stream() {
            engine.handle(req, peer).await.map(full)
        } else {
            // Polling POSTs: their body must arrive in time.
            match self.timed(req, peer) {
                Ok(req) => engine.handle(req, peer).await.map(full),
                Err(refusal) => return refusal,
            }
        };
        if let (StatusCode::SWITCHING_PROTOCOLS, Some(protocol)) = (response.status(), protocol) {
            response.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, protocol);
        }
        if let Some(origin) = cors {
            add_cors(response.headers_mut(), origin);
        }
        response
    }

    /// Closes the diagnostics engine's sessions; resolves once they are gone.
    pub(crate) async fn shut_down(&self) {
        if let Some((_, engine)) = &self.engine_echo {
            engine.shut_down().await;
        }
    }

    /// `req` with its body bounded by `server.body_read_timeout` and
    /// counted among its client's bodies in flight; 429 when that address
    /// has `limits.max_connections_per_ip` bodies in flight already.
    #[allow(clippy::result_large_err)]
    fn timed(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Result<Request<TimedBody<Incoming>>, Response<Body>> {
        let (parts, body) = req.into_parts();
        match self.bodies.wrap(body, peer.ip()) {
            Ok(body) => Ok(Request::from_parts(parts, body)),
            Err(_) => Err(refuse(Refusal::BodiesInFlight)),
        }
    }

    async fn engine<B>(&self, req: Request<B>, peer: SocketAddr) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + std::fmt::Debug + 'static,
        B::Error: std::fmt::Debug + std::fmt::Display,
    {
        // The 101 must name the subprotocol the client offered, if any
        // (mini-programs fail without it).
        let protocol = match negotiate_subprotocol(req.headers(), &self.raw.config().subprotocols) {
            SubprotocolChoice::Selected(name) => HeaderValue::from_str(name).ok(),
            SubprotocolChoice::NoneOffered => None,
            SubprotocolChoice::Rejected => return refuse(Refusal::Subprotocol),
        };
        let mut response = self.sio.handle(req, peer).await.map(full);
        if let (StatusCode::SWITCHING_PROTOCOLS, Some(protocol)) = (response.status(), protocol) {
            response.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, protocol);
        }
        response
    }
}

fn full(bytes: Bytes) -> Body {
    Full::new(bytes).map_err(|never| match never {}).boxed_unsync()
}

/// One of the listener's own refusals.
fn refuse(refusal: Refusal) -> Response<Body> {
    refusal.into_response().map(full)
}

/// A plain-text answer that is not a refusal (probes, preflights).
fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    plain_text(status, body).map(full)
}
