//! The config file as written: every key optional, unknown keys refused.
//! Defaults here are the documented defaults (see `gateway.toml`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The whole file.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawConfig {
    pub(crate) listen: String,
    pub(crate) server: RawServer,
    pub(crate) socketio: RawSocketIo,
    pub(crate) raw: RawWs,
    pub(crate) events: RawEvents,
    pub(crate) rooms: RawRooms,
    pub(crate) limits: RawLimits,
    pub(crate) api: RawApi,
    pub(crate) auth: RawAuth,
    pub(crate) webhooks: RawWebhooks,
    pub(crate) cluster: RawCluster,
    pub(crate) log: RawLog,
    pub(crate) tls: RawTls,
    pub(crate) metrics: RawMetrics,
    pub(crate) diagnostics: RawDiagnostics,
    pub(crate) console: RawConsole,
}

impl Default for RawConfig {
    fn default() -> Self {
        RawConfig {
            listen: "127.0.0.1:3000".into(),
            server: RawServer::default(),
            socketio: RawSocketIo::default(),
            raw: RawWs::default(),
            events: RawEvents::default(),
            rooms: RawRooms::default(),
            limits: RawLimits::default(),
            api: RawApi::default(),
            auth: RawAuth::default(),
            webhooks: RawWebhooks::default(),
            cluster: RawCluster::default(),
            log: RawLog::default(),
            tls: RawTls::default(),
            metrics: RawMetrics::default(),
            diagnostics: RawDiagnostics::default(),
            console: RawConsole::default(),
        }
    }
}

/// `[server]`
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawServer {
    #[serde(with = "humantime_serde")]
    pub(crate) header_read_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub(crate) shutdown_timeout: Duration,
    pub(crate) path_prefix: String,
    pub(crate) trusted_proxies: Vec<String>,
    pub(crate) forwarded_header: crate::ForwardedHeader,
    #[serde(with = "humantime_serde")]
    pub(crate) body_read_timeout: Duration,
    pub(crate) allowed_origins: Vec<String>,
    pub(crate) max_headers: usize,
    pub(crate) max_header_bytes: usize,
}

impl Default for RawServer {
    fn default() -> Self {
        RawServer {
            header_read_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(10),
            path_prefix: String::new(),
            trusted_proxies: Vec::new(),
            forwarded_header: crate::ForwardedHeader::XForwardedFor,
            body_read_timeout: Duration::from_secs(10),
            allowed_origins: Vec::new(),
            max_headers: 100,
            max_header_bytes: 65_536,
        }
    }
}

/// `[socketio]`
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawSocketIo {
    pub(crate) path: String,
    pub(crate) allow_eio3: bool,
    pub(crate) namespaces: Vec<String>,
    #[serde(with = "humantime_serde")]
    pub(crate) ping_interval: Duration,
    #[serde(with = "humantime_serde")]
    pub(crate) ping_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub(crate) connect_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub(crate) upgrade_timeout: Duration,
    pub(crate) max_payload: u64,
    pub(crate) ws_read_buffer_bytes: usize,
    pub(crate) serve_client: bool,
    pub(crate) connection_state_recovery: bool,
}

impl Default for RawSocketIo {
    fn default() -> Self {
        RawSocketIo {
            path: "/socket.io/".into(),
            allow_eio3: true,
            namespaces: vec!["/".into()],
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(45),
            upgrade_timeout: Duration::from_secs(10),
            max_payload: 100_000,
            ws_read_buffer_bytes: 1024,
            serve_client: true,
            connection_state_recovery: false,
        }
    }
}

/// `[raw]`
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawWs {
    pub(crate) paths: Vec<String>,
    pub(crate) subprotocols: Vec<String>,
    #[serde(with = "humantime_serde")]
    pub(crate) ping_interval: Duration,
    #[serde(with = "humantime_serde")]
    pub(crate) ping_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub(crate) close_timeout: Duration,
    pub(crate) read_buffer_bytes: usize,
    pub(crate) write_buffer_bytes: usize,
    pub(crate) write_batch_bytes: usize,
}

impl Default for RawWs {
    fn default() -> Self {
        RawWs {
            paths: vec!["/ws".into()],
            subprotocols: vec!["*".into()],
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            close_timeout: Duration::from_secs(2),
            read_buffer_bytes: 1024,
            write_buffer_bytes: 128 * 1024,
            write_batch_bytes: 16 * 1024,
        }
    }
}

/// `[events]`
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawEvents {
    pub(crate) join: String,
    pub(crate) leave: String,
    pub(crate) publish: String,
    pub(crate) resume: String,
}

impl Default for RawEvents {
    fn default() -> Self {
        RawEvents {
            join: "join".into(),
            leave: "leave".into(),
            publish: "publish".into(),
            resume: "resume".into(),
        }
    }
}

/// `[rooms]`
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawRooms {
    pub(crate) allow_join: Vec<String>,
    pub(crate) allow_publish: Vec<String>,
    pub(crate) max_name_bytes: usize,
    pub(crate) recover: Vec<String>,
    pub(crate) history_size: usize,
    #[serde(with = "humantime_serde")]
    pub(crate) history_ttl: Duration,
}

impl Default for RawRooms {
    fn default() -> Self {
        RawRooms {
            allow_join: vec!["*".into()],
            allow_publish: vec!["*".into()],
            max_name_bytes: 128,
            recover: Vec::new(),
            history_size: 1000,
            history_ttl: Duration::from_secs(300),
        }
    }
}

/// `[limits]`
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawLimits {
    pub(crate) max_message_bytes: usize,
    pub(crate) max_event_name_bytes: usize,
    pub(crate) outbound_queue: usize,
    pub(crate) messages_per_second: u32,
    pub(crate) message_burst: u32,
    pub(crate) max_rooms_per_connection: usize,
    pub(crate) max_connections: usize,
    pub(crate) max_connections_per_ip: usize,
    pub(crate) connects_per_second_per_ip: f64,
    pub(crate) connect_burst_per_ip: u32,
    pub(crate) max_binary_attachments: usize,
    pub(crate) max_payload_depth: usize,
    pub(crate) max_queued_bytes: usize,
}

impl Default for RawLimits {
    fn default() -> Self {
        RawLimits {
            max_message_bytes: 64 * 1024,
            max_event_name_bytes: 128,
            outbound_queue: 1024,
            messages_per_second: 100,
            message_burst: 200,
            max_rooms_per_connection: 100,
            max_connections: 100_000,
            max_connections_per_ip: 1_000,
            connects_per_second_per_ip: 200.0,
            connect_burst_per_ip: 1_000,
            max_binary_attachments: 10,
            max_payload_depth: 64,
            max_queued_bytes: 256 * 1024 * 1024,
        }
    }
}

/// `[api]`
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawApi {
    pub(crate) path: String,
    pub(crate) keys: Vec<String>,
    pub(crate) max_body_bytes: usize,
}

impl Default for RawApi {
    fn default() -> Self {
        RawApi {
            path: "/api".into(),
            keys: Vec::new(),
            max_body_bytes: 64 * 1024,
        }
    }
}

/// `[auth]`
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawAuth {
    pub(crate) required: bool,
    #[serde(with = "humantime_serde")]
    pub(crate) timeout: Duration,
    pub(crate) webhook_url: String,
    pub(crate) jwt: RawJwt,
}

impl Default for RawAuth {
    fn default() -> Self {
        RawAuth {
            required: false,
            timeout: Duration::from_secs(10),
            webhook_url: String::new(),
            jwt: RawJwt::default(),
        }
    }
}

/// `[auth.jwt]`; empty strings mean "not set".
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawJwt {
    pub(crate) hs256_secret: String,
    pub(crate) rs256_public_key: String,
    pub(crate) es256_public_key: String,
    pub(crate) issuer: String,
    pub(crate) audience: String,
    #[serde(with = "humantime_serde")]
    pub(crate) leeway: Duration,
}

impl Default for RawJwt {
    fn default() -> Self {
        RawJwt {
            hs256_secret: String::new(),
            rs256_public_key: String::new(),
            es256_public_key: String::new(),
            issuer: String::new(),
            audience: String::new(),
            leeway: Duration::from_secs(30),
        }
    }
}

/// `[webhooks]`
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawWebhooks {
    #[serde(with = "humantime_serde")]
    pub(crate) timeout: Duration,
    pub(crate) max_concurrency: usize,
    pub(crate) max_response_bytes: usize,
    pub(crate) secret: String,
    pub(crate) disconnect_url: String,
    pub(crate) routes: Vec<RawRoute>,
}

impl Default for RawWebhooks {
    fn default() -> Self {
        RawWebhooks {
            timeout: Duration::from_secs(5),
            max_concurrency: 64,
            max_response_bytes: 1024 * 1024,
            secret: String::new(),
            disconnect_url: String::new(),
            routes: Vec::new(),
        }
    }
}

/// One `[[webhooks.routes]]` entry.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoute {
    pub(crate) events: Vec<String>,
    pub(crate) url: String,
}

/// `[cluster]`
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawCluster {
    pub(crate) redis_url: String,
    pub(crate) prefix: String,
    pub(crate) node_id: String,
    #[serde(with = "humantime_serde")]
    pub(crate) heartbeat: Duration,
    #[serde(with = "humantime_serde")]
    pub(crate) node_ttl: Duration,
    pub(crate) required: bool,
    #[serde(with = "humantime_serde")]
    pub(crate) timeout: Duration,
    pub(crate) outgoing_queue: usize,
    pub(crate) emitter: bool,
    pub(crate) emitter_prefix: String,
}

impl Default for RawCluster {
    /// The cluster crate owns the defaults; the file format only mirrors them.
    fn default() -> Self {
        let defaults = sockgate_redis::ClusterConfig::default();
        RawCluster {
            redis_url: defaults.redis_url,
            prefix: defaults.prefix,
            node_id: defaults.node_id,
            heartbeat: defaults.heartbeat,
            node_ttl: defaults.node_ttl,
            required: defaults.required,
            timeout: defaults.timeout,
            outgoing_queue: defaults.outgoing_queue,
            emitter: defaults.emitter,
            emitter_prefix: defaults.emitter_prefix,
        }
    }
}

/// `[log]`
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawLog {
    pub(crate) format: String,
}

impl Default for RawLog {
    fn default() -> Self {
        RawLog {
            format: "text".into(),
        }
    }
}

/// `[tls]`; empty paths mean plain HTTP.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawTls {
    pub(crate) cert: String,
    pub(crate) key: String,
}

/// `[metrics]`
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawMetrics {
    pub(crate) enabled: bool,
    pub(crate) path: String,
    pub(crate) listen: String,
}

impl Default for RawMetrics {
    fn default() -> Self {
        RawMetrics {
            enabled: true,
            path: "/metrics".into(),
            listen: String::new(),
        }
    }
}

/// `[diagnostics]`: endpoints for checking the gateway, off by default.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawDiagnostics {
    pub(crate) echo_path: String,
    pub(crate) engineio_echo_path: String,
}

/// `[console]`: the pages served from the binary.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawConsole {
    pub(crate) demo_path: String,
    pub(crate) admin_path: String,
}

impl Default for RawConsole {
    fn default() -> Self {
        RawConsole {
            demo_path: "/demo".into(),
            admin_path: "/admin".into(),
        }
    }
}
