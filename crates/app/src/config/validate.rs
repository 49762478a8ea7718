//! Stage two of config loading: rules that serde cannot express.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sockgate_auth::{JwtAuthenticator, JwtConfig};
use sockgate_backend::{ApiConfig, EventRoute, WebhookConfig};
use sockgate_bus::{BusLimits, HistoryLimits};
use sockgate_core::{
    is_reserved_event, Authenticator, ConnectAuth, PayloadLimits, RoomPolicy, MAX_PAYLOAD_DEPTH_LIMIT,
};
use sockgate_redis::ClusterConfig;
use sockgate_sio::{EventNames, SioConfig};
use sockgate_ws::WsConfig;

use super::raw::{RawAuth, RawCluster, RawConfig};
use super::{GatewayConfig, WebhookSettings};
use crate::ConfigError;

type Result<T> = std::result::Result<T, ConfigError>;

pub(super) fn validate(raw: RawConfig) -> Result<GatewayConfig> {
    let listen: SocketAddr = raw
        .listen
        .parse()
        .map_err(|_| ConfigError::invalid("listen", format!("{:?} is not an IP:port address", raw.listen)))?;
    positive("server.header_read_timeout", raw.server.header_read_timeout)?;
    positive("server.shutdown_timeout", raw.server.shutdown_timeout)?;
    positive("server.body_read_timeout", raw.server.body_read_timeout)?;
    at_least("server.max_headers", raw.server.max_headers as u64, 16)?;
    // hyper's read buffer has a floor of 8 KiB.
    at_least(
        "server.max_header_bytes",
        raw.server.max_header_bytes as u64,
        8192,
    )?;
    let mut trusted_proxies = Vec::new();
    for (i, entry) in raw.server.trusted_proxies.iter().enumerate() {
        let network = entry
            .parse::<ipnet::IpNet>()
            .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| {
                ConfigError::invalid(
                    format!("server.trusted_proxies[{i}]"),
                    format!("{entry:?} is not an IP address or CIDR like \"10.0.0.0/8\""),
                )
            })?;
        trusted_proxies.push(network);
    }
    for (i, origin) in raw.server.allowed_origins.iter().enumerate() {
        let host = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        let valid = origin == "*" || host.is_some_and(|host| !host.is_empty() && !host.contains('/'));
        if !valid {
            return Err(ConfigError::invalid(
                format!("server.allowed_origins[{i}]"),
                format!("{origin:?} is not an origin like \"https://app.example.com\" (no path, no trailing slash) or \"*\""),
            ));
        }
    }
    let path_prefix = match raw.server.path_prefix.trim_end_matches('/') {
        "" => String::new(),
        prefix => mount_path("server.path_prefix", prefix)?.to_owned(),
    };

    let sio = &raw.socketio;
    let sio_path = mount_path("socketio.path", &sio.path)?;
    let sio_path = format!("{}/", sio_path.trim_end_matches('/'));
    if sio.namespaces.is_empty() {
        return Err(ConfigError::invalid(
            "socketio.namespaces",
            "serve at least one namespace",
        ));
    }
    for (i, ns) in sio.namespaces.iter().enumerate() {
        if !ns.starts_with('/') {
            return Err(ConfigError::invalid(
                format!("socketio.namespaces[{i}]"),
                "a namespace starts with '/'",
            ));
        }
    }
    positive("socketio.ping_interval", sio.ping_interval)?;
    positive("socketio.ping_timeout", sio.ping_timeout)?;
    positive("socketio.connect_timeout", sio.connect_timeout)?;
    at_least("socketio.max_payload", sio.max_payload, 64)?;
    at_least(
        "socketio.ws_read_buffer_bytes",
        sio.ws_read_buffer_bytes as u64,
        512,
    )?;

    let mut raw_paths = Vec::new();
    for (i, path) in raw.raw.paths.iter().enumerate() {
        let key = format!("raw.paths[{i}]");
        let path = mount_path(&key, path)?;
        if path.starts_with(&sio_path) || format!("{path}/") == sio_path {
            return Err(ConfigError::invalid(
                key,
                format!("{path:?} is inside socketio.path {sio_path:?}"),
            ));
        }
        if path == "/healthz" {
            return Err(ConfigError::invalid(key, "/healthz is the health check"));
        }
        raw_paths.push(path.to_owned());
    }
    for (i, name) in raw.raw.subprotocols.iter().enumerate() {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b',') {
            return Err(ConfigError::invalid(
                format!("raw.subprotocols[{i}]"),
                "a subprotocol is a non-empty token of visible ASCII without ','",
            ));
        }
    }
    positive("raw.ping_interval", raw.raw.ping_interval)?;
    positive("raw.ping_timeout", raw.raw.ping_timeout)?;
    positive("raw.close_timeout", raw.raw.close_timeout)?;
    at_least("raw.read_buffer_bytes", raw.raw.read_buffer_bytes as u64, 512)?;

    let events = &raw.events;
    for (key, name) in [
        ("events.join", &events.join),
        ("events.leave", &events.leave),
        ("events.publish", &events.publish),
        ("events.resume", &events.resume),
    ] {
        if name.is_empty() || is_reserved_event(name) {
            return Err(ConfigError::invalid(
                key,
                format!("{name:?} is empty or reserved by socket.io"),
            ));
        }
    }
    let names = [&events.join, &events.leave, &events.publish, &events.resume];
    if names.iter().enumerate().any(|(i, a)| names[i + 1..].contains(a)) {
        return Err(ConfigError::invalid(
            "events",
            "join, leave, publish and resume need four different names",
        ));
    }

    let rooms = &raw.rooms;
    if !(1..=4096).contains(&rooms.max_name_bytes) {
        return Err(ConfigError::invalid("rooms.max_name_bytes", "must be 1..=4096"));
    }
    let policy = RoomPolicy::new(&rooms.allow_join, &rooms.allow_publish, rooms.max_name_bytes)
        .and_then(|policy| policy.with_recover(&rooms.recover))
        .map_err(|e| ConfigError::invalid("rooms", e.to_string()))?;
    if !(1..=1_000_000).contains(&rooms.history_size) {
        return Err(ConfigError::invalid("rooms.history_size", "must be 1..=1000000"));
    }
    positive("rooms.history_ttl", rooms.history_ttl)?;

    let limits = &raw.limits;
    at_least("limits.max_message_bytes", limits.max_message_bytes as u64, 256)?;
    at_least(
        "limits.max_event_name_bytes",
        limits.max_event_name_bytes as u64,
        1,
    )?;
    at_least("limits.outbound_queue", limits.outbound_queue as u64, 1)?;
    at_least(
        "limits.messages_per_second",
        u64::from(limits.messages_per_second),
        1,
    )?;
    at_least("limits.message_burst", u64::from(limits.message_burst), 1)?;
    at_least(
        "limits.max_rooms_per_connection",
        limits.max_rooms_per_connection as u64,
        1,
    )?;
    at_least("limits.max_payload_depth", limits.max_payload_depth as u64, 1)?;
    if limits.max_payload_depth > MAX_PAYLOAD_DEPTH_LIMIT {
        return Err(ConfigError::invalid(
            "limits.max_payload_depth",
            format!(
                "must be at most {MAX_PAYLOAD_DEPTH_LIMIT} (deeper JSON cannot be parsed back), got {}",
                limits.max_payload_depth
            ),
        ));
    }
    let payload = PayloadLimits {
        max_depth: limits.max_payload_depth,
        max_binary: limits.max_binary_attachments,
    };

    if !(limits.connects_per_second_per_ip >= 0.0 && limits.connects_per_second_per_ip.is_finite()) {
        return Err(ConfigError::invalid(
            "limits.connects_per_second_per_ip",
            "must be a number of connections per second, 0 or more",
        ));
    }
    at_least(
        "limits.connect_burst_per_ip",
        u64::from(limits.connect_burst_per_ip),
        1,
    )?;
    at_least("limits.max_queued_bytes", limits.max_queued_bytes as u64, 65536)?;

    let echo_path = match raw.diagnostics.echo_path.as_str() {
        "" => None,
        path => Some(echo_path(path, &sio_path, &raw_paths)?.to_owned()),
    };

    let api = &raw.api;
    let api_path = mount_path("api.path", &api.path)?
        .trim_end_matches('/')
        .to_owned();
    if api_path.is_empty()
        || format!("{api_path}/").starts_with(&sio_path)
        || sio_path.starts_with(&format!("{api_path}/"))
    {
        return Err(ConfigError::invalid(
            "api.path",
            format!("{api_path:?} overlaps socketio.path {sio_path:?}"),
        ));
    }
    if let Some(path) = raw_paths
        .iter()
        .find(|p| **p == api_path || p.starts_with(&format!("{api_path}/")))
    {
        return Err(ConfigError::invalid(
            "api.path",
            format!("{api_path:?} overlaps raw path {path:?}"),
        ));
    }
    for (i, key) in api.keys.iter().enumerate() {
        if key.len() < 16 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::invalid(
                format!("api.keys[{i}]"),
                "an API key is at least 16 visible ASCII characters (use a long random string)",
            ));
        }
    }
    at_least("api.max_body_bytes", api.max_body_bytes as u64, 256)?;

    let taken = Taken {
        sio_path: &sio_path,
        raw_paths: &raw_paths,
        api_path: &api_path,
        echo_path: echo_path.as_deref(),
    };
    let demo_path = console_path("console.demo_path", &raw.console.demo_path, &taken)?;
    let admin_path = console_path("console.admin_path", &raw.console.admin_path, &taken)?;
    if demo_path.is_some() && demo_path == admin_path {
        return Err(ConfigError::invalid(
            "console.admin_path",
            "must differ from console.demo_path",
        ));
    }

    let webhooks = webhooks(&raw)?;
    let auth = connect_auth(&raw.auth, webhooks.connect_url.is_some())?;
    positive("auth.timeout", raw.auth.timeout)?;

    Ok(GatewayConfig {
        listen,
        header_read_timeout: raw.server.header_read_timeout,
        shutdown_timeout: raw.server.shutdown_timeout,
        max_headers: raw.server.max_headers,
        max_header_bytes: raw.server.max_header_bytes,
        path_prefix,
        trusted_proxies,
        forwarded_header: raw.server.forwarded_header,
        body_read_timeout: raw.server.body_read_timeout,
        allowed_origins: raw.server.allowed_origins.clone(),
        allow_eio3: sio.allow_eio3,
        socketio: SioConfig {
            path: sio_path,
            namespaces: sio.namespaces.clone(),
            ping_interval: sio.ping_interval,
            ping_timeout: sio.ping_timeout,
            connect_timeout: sio.connect_timeout,
            max_payload: sio.max_payload,
            ws_read_buffer_bytes: sio.ws_read_buffer_bytes,
            outbound_queue: limits.outbound_queue,
            events: EventNames {
                join: events.join.clone(),
                leave: events.leave.clone(),
                publish: events.publish.clone(),
                resume: events.resume.clone(),
            },
            messages_per_second: limits.messages_per_second,
            message_burst: limits.message_burst,
            max_binary_attachments: limits.max_binary_attachments,
        },
        raw_paths,
        raw: WsConfig {
            subprotocols: raw.raw.subprotocols.clone(),
            ping_interval: raw.raw.ping_interval,
            ping_timeout: raw.raw.ping_timeout,
            close_timeout: raw.raw.close_timeout,
            auth_timeout: raw.auth.timeout,
            messages_per_second: limits.messages_per_second,
            message_burst: limits.message_burst,
            outbound_queue: limits.outbound_queue,
            max_message_bytes: limits.max_message_bytes,
            payload,
            max_queued_bytes: limits.max_queued_bytes,
            read_buffer_bytes: raw.raw.read_buffer_bytes,
            write_buffer_bytes: raw.raw.write_buffer_bytes,
            write_batch_bytes: raw.raw.write_batch_bytes,
        },
        rooms: policy,
        history: HistoryLimits {
            size: rooms.history_size,
            ttl: rooms.history_ttl,
            // Half the queue: a replay leaves room for live events.
            max_replay: (limits.outbound_queue / 2).max(1),
        },
        max_connections: limits.max_connections,
        max_connections_per_ip: limits.max_connections_per_ip,
        connects_per_second_per_ip: limits.connects_per_second_per_ip,
        connect_burst_per_ip: limits.connect_burst_per_ip,
        bus: BusLimits {
            max_event_name_bytes: limits.max_event_name_bytes,
            max_rooms_per_connection: limits.max_rooms_per_connection,
            payload,
        },
        api: ApiConfig {
            path: api_path,
            keys: api.keys.clone(),
            max_body_bytes: api.max_body_bytes,
        },
        auth,
        webhooks,
        cluster: cluster(&raw.cluster)?,
        metrics_listen: match raw.metrics.listen.as_str() {
            "" => None,
            listen => Some(listen.parse().map_err(|_| {
                ConfigError::invalid("metrics.listen", format!("{listen:?} is not an IP:port address"))
            })?),
        },
        echo_path,
        demo_path,
        admin_path,
        serve_client: sio.serve_client,
        metrics_path: match raw.metrics.enabled {
            true => Some(mount_path("metrics.path", &raw.metrics.path)?.to_owned()),
            false => None,
        },
        tls: match (raw.tls.cert.as_str(), raw.tls.key.as_str()) {
            ("", "") => None,
            ("", _) | (_, "") => {
                return Err(ConfigError::invalid(
                    "tls",
                    "set both tls.cert and tls.key, or neither",
                ));
            }
            (cert, key) => {
                // Checked now, so that a bad certificate fails `sockgate check` too.
                crate::tls::acceptor(cert.as_ref(), key.as_ref())
                    .map_err(|e| ConfigError::invalid(e.key, e.message))?;
                Some((cert.into(), key.into()))
            }
        },
        log_json: match raw.log.format.as_str() {
            "text" => false,
            "json" => true,
            other => {
                return Err(ConfigError::invalid(
                    "log.format",
                    format!("{other:?}: use \"text\" or \"json\""),
                ));
            }
        },
    })
}

/// `[cluster]`: `None` unless a Redis URL is set.
fn cluster(raw: &RawCluster) -> Result<Option<ClusterConfig>> {
    if raw.redis_url.is_empty() {
        return Ok(None);
    }
    if !(raw.redis_url.starts_with("redis://") || raw.redis_url.starts_with("rediss://")) {
        return Err(ConfigError::invalid(
            "cluster.redis_url",
            format!("{:?} is not a redis:// URL", raw.redis_url),
        ));
    }
    positive("cluster.heartbeat", raw.heartbeat)?;
    positive("cluster.timeout", raw.timeout)?;
    if raw.node_ttl < raw.heartbeat * 2 {
        return Err(ConfigError::invalid(
            "cluster.node_ttl",
            "must be at least twice cluster.heartbeat, or live nodes would flicker out",
        ));
    }
    for (key, value) in [
        ("cluster.prefix", &raw.prefix),
        ("cluster.emitter_prefix", &raw.emitter_prefix),
    ] {
        if value.is_empty() || value.contains(['#', ':', '*', ' ']) {
            return Err(ConfigError::invalid(
                key,
                "a non-empty name without '#', ':', '*' or spaces",
            ));
        }
    }
    at_least("cluster.outgoing_queue", raw.outgoing_queue as u64, 1)?;
    Ok(Some(ClusterConfig {
        redis_url: raw.redis_url.clone(),
        prefix: raw.prefix.clone(),
        node_id: raw.node_id.clone(),
        heartbeat: raw.heartbeat,
        node_ttl: raw.node_ttl,
        required: raw.required,
        timeout: raw.timeout,
        outgoing_queue: raw.outgoing_queue,
        emitter: raw.emitter,
        emitter_prefix: raw.emitter_prefix.clone(),
    }))
}

/// `[webhooks]` and `auth.webhook_url`.
fn webhooks(raw: &RawConfig) -> Result<WebhookSettings> {
    let hooks = &raw.webhooks;
    positive("webhooks.timeout", hooks.timeout)?;
    at_least("webhooks.max_concurrency", hooks.max_concurrency as u64, 1)?;
    at_least(
        "webhooks.max_response_bytes",
        hooks.max_response_bytes as u64,
        1024,
    )?;
    let mut routes = Vec::new();
    for (i, route) in hooks.routes.iter().enumerate() {
        let key = format!("webhooks.routes[{i}]");
        if route.events.is_empty() {
            return Err(ConfigError::invalid(
                format!("{key}.events"),
                "name at least one event pattern",
            ));
        }
        let route = EventRoute {
            events: route.events.clone(),
            url: url(&format!("{key}.url"), &route.url)?.unwrap_or_default(),
        };
        if route.url.is_empty() {
            return Err(ConfigError::invalid(format!("{key}.url"), "a route needs a URL"));
        }
        route
            .patterns()
            .map_err(|e| ConfigError::invalid(format!("{key}.events"), e.to_string()))?;
        routes.push(route);
    }
    Ok(WebhookSettings {
        client: WebhookConfig {
            timeout: hooks.timeout,
            max_concurrency: hooks.max_concurrency,
            max_response_bytes: hooks.max_response_bytes,
            secret: (!hooks.secret.is_empty()).then(|| hooks.secret.clone()),
        },
        routes,
        connect_url: url("auth.webhook_url", &raw.auth.webhook_url)?,
        disconnect_url: url("webhooks.disconnect_url", &hooks.disconnect_url)?,
    })
}

/// An http(s) URL; empty means not set.
fn url(key: &str, value: &str) -> Result<Option<String>> {
    if value.is_empty() {
        return Ok(None);
    }
    let rest = value
        .strip_prefix("http://")
        .or_else(|| value.strip_prefix("https://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.contains(char::is_whitespace) => Ok(Some(value.to_owned())),
        _ => Err(ConfigError::invalid(
            key,
            format!("{value:?} is not an http:// or https:// URL"),
        )),
    }
}

/// `[auth]` into the authenticator the fronts use (the connect webhook,
/// when configured, is added by the gateway, which owns the HTTP client).
fn connect_auth(raw: &RawAuth, connect_webhook: bool) -> Result<ConnectAuth> {
    let jwt = &raw.jwt;
    let set = |value: &str| (!value.is_empty()).then(|| value.to_owned());
    let config = JwtConfig {
        hs256_secret: set(&jwt.hs256_secret),
        rs256_public_key: pem("auth.jwt.rs256_public_key", &jwt.rs256_public_key)?,
        es256_public_key: pem("auth.jwt.es256_public_key", &jwt.es256_public_key)?,
        issuer: set(&jwt.issuer),
        audience: set(&jwt.audience),
        leeway: jwt.leeway,
    };
    if config
        .hs256_secret
        .as_ref()
        .is_some_and(|secret| secret.len() < 16)
    {
        return Err(ConfigError::invalid(
            "auth.jwt.hs256_secret",
            "use at least 16 characters",
        ));
    }
    let authenticator: Option<Arc<dyn Authenticator>> = if config.hs256_secret.is_some()
        || config.rs256_public_key.is_some()
        || config.es256_public_key.is_some()
    {
        let verifier = JwtAuthenticator::new(&config).map_err(|e| ConfigError::invalid(e.key, e.message))?;
        Some(Arc::new(verifier))
    } else {
        None
    };
    if authenticator.is_some() && connect_webhook {
        return Err(ConfigError::invalid(
            "auth.webhook_url",
            "use either the connect webhook or [auth.jwt], not both",
        ));
    }
    if raw.required && authenticator.is_none() && !connect_webhook {
        return Err(ConfigError::invalid(
            "auth.required",
            "needs a way to authenticate: set a key in [auth.jwt] or auth.webhook_url",
        ));
    }
    Ok(ConnectAuth {
        required: raw.required,
        authenticator,
    })
}

/// A PEM key given inline or as a file path; empty means not set.
fn pem(key: &str, value: &str) -> Result<Option<String>> {
    if value.is_empty() {
        return Ok(None);
    }
    if value.trim_start().starts_with("-----BEGIN") {
        return Ok(Some(value.to_owned()));
    }
    std::fs::read_to_string(value)
        .map(Some)
        .map_err(|e| ConfigError::invalid(key, format!("cannot read {value:?}: {e}")))
}

/// A URL path the gateway mounts something on: absolute, no query.
fn mount_path<'a>(key: &str, path: &'a str) -> Result<&'a str> {
    if !path.starts_with('/') || path.contains(['?', '#', ' ']) {
        return Err(ConfigError::invalid(
            key,
            format!("{path:?} must be an absolute path like \"/ws\""),
        ));
    }
    Ok(path)
}

/// `diagnostics.echo_path` must not shadow another endpoint.
fn echo_path<'a>(path: &'a str, sio_path: &str, raw_paths: &[String]) -> Result<&'a str> {
    let key = "diagnostics.echo_path";
    let path = mount_path(key, path)?;
    if path.starts_with(sio_path) || raw_paths.iter().any(|p| p == path) {
        return Err(ConfigError::invalid(
            key,
            format!("{path:?} is already socket.io's or a raw path"),
        ));
    }
    Ok(path)
}

/// Paths other endpoints own, which a console page must not shadow.
struct Taken<'a> {
    sio_path: &'a str,
    raw_paths: &'a [String],
    api_path: &'a str,
    echo_path: Option<&'a str>,
}

/// `console.*_path`: empty for off, else an absolute path that is not
/// another endpoint's or inside one. (Endpoints inside a page's path, such
/// as `api.path = "/admin/api"`, are fine: they are routed first.)
fn console_path(key: &str, path: &str, taken: &Taken<'_>) -> Result<Option<String>> {
    let path = match path.trim_end_matches('/') {
        "" if path.is_empty() => return Ok(None),
        "" => return Err(ConfigError::invalid(key, "\"/\" would shadow every other path")),
        path => mount_path(key, path)?,
    };
    let inside = |other: &str| {
        let other = other.trim_end_matches('/');
        other == path || path.starts_with(&format!("{other}/"))
    };
    let clash = [taken.sio_path, taken.api_path, "/healthz", "/readyz"]
        .into_iter()
        .chain(taken.raw_paths.iter().map(String::as_str))
        .chain(taken.echo_path)
        .find(|other| inside(other));
    if let Some(other) = clash {
        return Err(ConfigError::invalid(
            key,
            format!("{path:?} is taken by {other:?}"),
        ));
    }
    Ok(Some(path.to_owned()))
}

fn positive(key: &str, value: Duration) -> Result<()> {
    if value.is_zero() {
        return Err(ConfigError::invalid(key, "must be longer than 0s"));
    }
    Ok(())
}

fn at_least(key: &str, value: u64, min: u64) -> Result<()> {
    if value < min {
        return Err(ConfigError::invalid(
            key,
            format!("must be at least {min}, got {value}"),
        ));
    }
    Ok(())
}
