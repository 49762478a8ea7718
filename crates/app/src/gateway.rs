//! [`Gateway`]: builds the bus and both fronts, binds the listener and runs
//! the accept loop until told to stop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use sockgate_backend::{Api, Webhooks};
use sockgate_bus::LocalBus;
use sockgate_core::{Bus, ConnectAuth, ConnectionLimiter, Directory, EventHandler};
use sockgate_redis::ClusterBus;
use sockgate_sio::SocketIoServer;

use sockgate_ws::RawFront;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::activity::{NodeActivity, SAMPLE_INTERVAL};
use crate::metrics::Telemetry;
use crate::readiness::Readiness;
use crate::rejection::Refusal;
use crate::router::Router;
use crate::{GatewayConfig, ServeError};

/// A gateway, built and ready to bind.
pub struct Gateway {
    config: GatewayConfig,
    bus: Arc<LocalBus>,
    cluster: Option<Arc<ClusterBus>>,
    router: Arc<Router>,
    sio: Arc<SocketIoServer>,
    raw: RawFront,
    webhooks: Webhooks,
    readiness: Arc<Readiness>,
    telemetry: Arc<Telemetry>,
    activity: Arc<NodeActivity>,
}

impl Gateway {
    /// Wires the bus (joining the cluster when `[cluster]` is set), the two
    /// protocol fronts and the backend integration together. Fails, rather
    /// than start without them, when the cluster cannot be joined, the
    /// webhooks' HTTP client cannot be built or an event route does not compile.
    pub async fn new(config: GatewayConfig) -> Result<Self, ServeError> {
        let sio = Arc::new(SocketIoServer::new(config.socketio.clone()));
        let bus =
            Arc::new(LocalBus::new(config.rooms.clone(), config.bus.clone()).with_history(config.history));
        // Before joining the cluster: a node that cannot call its backend
        // should not appear in it.
        let webhooks = Webhooks::new(config.webhooks.client.clone())?;
        // One node delivers through its local bus; a cluster member wraps
        // it so that other nodes hear what its clients do, and vice versa.
        let (shared, directory, cluster): (Arc<dyn Bus>, Arc<dyn Directory>, _) = match &config.cluster {
            Some(cluster) => {
                let cluster = ClusterBus::start(bus.clone(), cluster.clone()).await?;
                (cluster.clone(), cluster.clone(), Some(cluster))
            }
            None => (bus.clone(), bus.clone(), None),
        };
        let (auth, events) = backend_hooks(&config, &webhooks, &shared)?;
        let limiter = ConnectionLimiter::new(config.max_connections, config.max_connections_per_ip);
        sio.attach(shared.clone(), auth.clone(), events.clone(), limiter.clone());
        let raw = RawFront::new(shared.clone(), config.raw.clone(), auth, events, limiter);
        let readiness = Arc::new(Readiness::new(directory.clone()));
        let telemetry = Arc::new(Telemetry {
            bus: bus.clone(),
            raw: raw.clone(),
            sio: sio.counters(),
            webhooks: webhooks.clone(),
            cluster: cluster.clone(),
        });
        let activity = NodeActivity::new(telemetry.clone());
        let api = Api::new(shared, directory, config.api.clone()).with_activity(activity.clone());
        let router = Arc::new(Router::new(
            &config,
            sio.clone(),
            raw.clone(),
            api,
            readiness.clone(),
            telemetry.clone(),
        ));
        Ok(Gateway {
            config,
            bus,
            cluster,
            router,
            sio,
            raw,
            webhooks,
            readiness,
            telemetry,
            activity,
        })
    }

    /// The local bus (for inspection).
    pub fn bus(&self) -> &Arc<LocalBus> {
        &self.bus
    }

    /// The cluster bus, when this node is a cluster member.
    pub fn cluster(&self) -> Option<&Arc<ClusterBus>> {
        self.cluster.as_ref()
    }

    /// Serves one already accepted connection as the listener would, except
    /// that a client's half-close does not cut its answers off: for the fuzz
    /// targets, which send a whole in-memory connection and then close.
    pub(crate) fn serve_io<I>(
        &self,
        io: I,
        peer: SocketAddr,
    ) -> impl std::future::Future<Output = ()> + Send + 'static
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let limits = HeadLimits {
            half_close: true,
            ..HeadLimits::new(&self.config)
        };
        // Never drained: the fuzz targets end their connections themselves.
        serve_connection(io, peer, self.router.clone(), limits, CancellationToken::new())
    }

    /// Binds the listen address and starts serving in the background.
    pub async fn start(self) -> Result<RunningGateway, ServeError> {
        let addr = self.config.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| ServeError::Bind { addr, source })?;
        let stop = CancellationToken::new();
        // The admin dashboard's rate history.
        tokio::spawn(self.activity.clone().sample_every(SAMPLE_INTERVAL, stop.clone()));
        // Expired room history and departed sessions are forgotten.
        tokio::spawn(sweep_history(
            self.bus.clone(),
            self.config.history.ttl,
            stop.clone(),
        ));
        let tls = match &self.config.tls {
            Some((cert, key)) => Some(crate::tls::acceptor(cert, key)?),
            None => None,
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let connections = TaskTracker::new();
        let task = tokio::spawn(accept_loop(
            listener,
            self.router.clone(),
            self.config.clone(),
            tls,
            Serving {
                stop: stop.clone(),
                connections: connections.clone(),
            },
        ));
        if let (Some(addr), Some(path)) = (self.config.metrics_listen, self.config.metrics_path.clone()) {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| ServeError::Bind { addr, source })?;
            info!(metrics = %addr, %path, "metrics listening");
            tokio::spawn(metrics_loop(listener, path, self.telemetry.clone(), stop.clone()));
        }
        info!(%local_addr, scheme, socketio = %self.config.socketio.path, raw = ?self.config.raw_paths, "listening");
        Ok(RunningGateway {
            local_addr,
            stop,
            task,
            connections,
            _gateway: self,
        })
    }
}

/// The authenticator and event handler the fronts use: the webhooks where
/// configured, over `webhooks`' one HTTP client.
fn backend_hooks(
    config: &GatewayConfig,
    webhooks: &Webhooks,
    bus: &Arc<dyn Bus>,
) -> Result<(ConnectAuth, Option<Arc<dyn EventHandler>>), ServeError> {
    let hooks = &config.webhooks;
    let mut auth = config.auth.clone();
    if let Some(url) = &hooks.connect_url {
        auth.authenticator = Some(Arc::new(webhooks.connect(url.clone())));
    }
    let events: Option<Arc<dyn EventHandler>> = if hooks.routes.is_empty() && hooks.disconnect_url.is_none() {
        None
    } else {
        // A validated config has valid patterns; a hand-built one may not,
        // and then no event webhook could be called: refuse to start.
        let events = webhooks.events(&hooks.routes, hooks.disconnect_url.clone(), bus.clone())?;
        Some(Arc::new(events))
    };
    Ok((auth, events))
}

/// A gateway that is accepting connections.
pub struct RunningGateway {
    local_addr: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<()>,
    /// One task per HTTP connection, until it ends or is upgraded.
    connections: TaskTracker,
    _gateway: Gateway,
}

impl RunningGateway {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Shuts down gracefully, within `server.shutdown_timeout`: stops
    /// accepting, reports not ready, ends HTTP keep-alive (idle connections
    /// close at once, requests in flight are answered first), tells every
    /// client to reconnect elsewhere (raw: close 1001 "going away";
    /// socket.io: its transport closes), lets in-flight webhook calls
    /// finish, then sends what the node still has queued for its cluster
    /// (the departed sessions those clients need to resume on another
    /// node among it) and leaves the cluster. Returns false when the
    /// timeout cut it short.
    pub async fn shut_down(self) -> bool {
        let gateway = &self._gateway;
        let grace = gateway.config.shutdown_timeout;
        let deadline = Instant::now() + grace;
        gateway.readiness.start_draining();
        // Stops the accept loop, and is every HTTP connection's drain signal.
        self.stop.cancel();
        let _ = self.task.await;
        self.connections.close();
        // A cluster member keeps the last quarter of the grace period for
        // the departed sessions the goodbyes queue, however long the
        // clients take to go.
        let clients_deadline = match gateway.cluster {
            Some(_) => deadline - grace / 4,
            None => deadline,
        };
        let clients = async {
            // Answers to events already sent go out before the goodbyes (for
            // at most half the grace period: clients may keep emitting).
            let _ = tokio::time::timeout(grace / 2, gateway.webhooks.idle()).await;
            // Each front resolves once its connections are off the bus.
            tokio::join!(
                gateway.raw.shut_down(),
                gateway.sio.shut_down(),
                gateway.router.shut_down(),
                self.connections.wait()
            );
            gateway.webhooks.idle().await;
        };
        let mut finished = tokio::time::timeout_at(clients_deadline, clients).await.is_ok();
        if let Some(cluster) = &gateway.cluster {
            let left = deadline.saturating_duration_since(Instant::now());
            finished &= cluster.leave_cluster(left).await;
        }
        finished
    }
}

/// What the accept loop shares with the connections it spawns.
struct Serving {
    /// Cancelled at shutdown: stop accepting, and drain every connection.
    stop: CancellationToken,
    /// Every connection's task, so that shutdown can wait for them.
    connections: TaskTracker,
}

async fn accept_loop(
    listener: TcpListener,
    router: Arc<Router>,
    config: GatewayConfig,
    tls: Option<TlsAcceptor>,
    serving: Serving,
) {
    loop {
        let accepted = tokio::select! {
            _ = serving.stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Typically EMFILE: back off instead of spinning.
                warn!(%error, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let limits = HeadLimits::new(&config);
        let tls = tls.clone();
        let drain = serving.stop.clone();
        serving.connections.spawn(async move {
            match tls {
                None => serve_connection(stream, peer, router, limits, drain).await,
                Some(tls) => {
                    // The handshake gets the same deadline as request headers.
                    match tokio::time::timeout(limits.read_timeout, tls.accept(stream)).await {
                        Ok(Ok(stream)) => serve_connection(stream, peer, router, limits, drain).await,
                        Ok(Err(error)) => debug!(%peer, %error, "TLS handshake failed"),
                        Err(_) => debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
}

/// Sweeps recovery state a few times per `history_ttl`, until `stop`.
async fn sweep_history(bus: Arc<LocalBus>, ttl: Duration, stop: CancellationToken) {
    let every = (ttl / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    let mut ticks = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => bus.sweep_history(),
        }
    }
}

/// Serves only the metrics, on their own listener.
async fn metrics_loop(
    listener: TcpListener,
    path: String,
    telemetry: Arc<Telemetry>,
    stop: CancellationToken,
) {
    let path: Arc<str> = path.into();
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else { continue };
        let (telemetry, path) = (telemetry.clone(), path.clone());
        tokio::spawn(async move {
            let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let response = if req.uri().path() == &*path {
                    http::Response::new(bytes::Bytes::from(telemetry.render()))
                } else {
                    Refusal::MetricsNotFound.into_response()
                };
                async move { Ok::<_, std::convert::Infallible>(response.map(http_body_util::Full::new)) }
            });
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Bounds on a request head (`[server]`).
#[derive(Debug, Clone, Copy)]
struct HeadLimits {
    read_timeout: std::time::Duration,
    max_headers: usize,
    max_bytes: usize,
    /// Whether a client that closed its sending side still gets answers
    /// (hyper's `half_close`; off on the listener, on for the fuzz targets).
    half_close: bool,
}

impl HeadLimits {
    fn new(config: &GatewayConfig) -> Self {
        HeadLimits {
            read_timeout: config.header_read_timeout,
            max_headers: config.max_headers,
            max_bytes: config.max_header_bytes,
            half_close: false,
        }
    }
}

/// Serves one HTTP/1.1 connection (plain or TLS), upgrades included,
/// until it ends, is upgraded, or `drain` is cancelled: then keep-alive
/// ends (hyper's graceful shutdown), so an idle connection closes at once
/// and a request in flight is answered first.
async fn serve_connection<I>(
    io: I,
    peer: SocketAddr,
    router: Arc<Router>,
    limits: HeadLimits,
    drain: CancellationToken,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let router = router.clone();
        async move { router.route(req, peer).await }
    });
    let mut builder = http1::Builder::new();
    builder
        // hyper enforces header_read_timeout only when it has a timer.
        .timer(TokioTimer::new())
        .header_read_timeout(limits.read_timeout)
        .max_buf_size(limits.max_bytes)
        .half_close(limits.half_close);
    // hyper's own default is 100; setting it moves headers to the heap.
    if limits.max_headers != 100 {
        builder.max_headers(limits.max_headers);
    }
    let connection = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    let mut connection = std::pin::pin!(connection);
    let ended = tokio::select! {
        // The connection first: a request already received is read before
        // the drain can close the connection as idle.
        biased;
        ended = connection.as_mut() => ended,
        () = drain.cancelled() => {
            // An upgraded connection is no longer hyper's: its front says goodbye.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = ended {
        debug!(%peer, %error, "http connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use sockgate_backend::EventRoute;

    use super::*;

    /// Regression: a route whose pattern did not compile used to be
    /// dropped with `.ok()`, silently turning off every event webhook.
    #[tokio::test]
    async fn a_bad_event_route_stops_the_gateway_instead_of_disabling_every_event_webhook() {
        let mut config = GatewayConfig::defaults();
        config.webhooks.routes = vec![EventRoute {
            events: vec!["[x".into()],
            url: "http://127.0.0.1:9/events".into(),
        }];
        let error = match Gateway::new(config).await {
            Ok(_) => panic!("a gateway with an invalid event route started"),
            Err(error) => error,
        };
        assert!(matches!(error, ServeError::EventRoutes(_)), "{error:?}");
        assert!(
            error
                .to_string()
                .starts_with("cannot route the event webhooks: invalid event pattern \"[x\""),
            "{error}"
        );
    }
}
