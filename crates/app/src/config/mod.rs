//! Config loading in two stages: [`raw`] is the file as written (unknown keys
//! refused by serde), [`GatewayConfig`] the validated settings, with errors
//! that name the TOML key they are about.

mod env;
mod raw;
mod validate;

pub use env::ENV_OVERRIDES;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use sockgate_backend::{ApiConfig, EventRoute, WebhookConfig};
use sockgate_bus::{BusLimits, HistoryLimits};
use sockgate_core::{ConnectAuth, RoomPolicy};
use sockgate_redis::ClusterConfig;
use sockgate_sio::SioConfig;
use sockgate_ws::WsConfig;

use crate::ConfigError;

/// The default config file, every key commented (`gateway.toml` at the repo root).
pub const DEFAULT_CONFIG_TOML: &str = include_str!("../../../../gateway.toml");

/// The header trusted proxies write the client's address in
/// (`server.forwarded_header`). Only this one is read: a client can send
/// any forwarding header, and only the one the proxies append to has an
/// end they vouch for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, …` (nginx's `$proxy_add_x_forwarded_for`).
    #[default]
    #[serde(rename = "x-forwarded-for")]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1, …`.
    #[serde(rename = "forwarded")]
    Forwarded,
}

impl ForwardedHeader {
    /// The header's name, lower case.
    pub fn name(self) -> &'static str {
        match self {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        }
    }
}

/// The validated gateway settings.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Address of the one front listener (`listen`).
    pub listen: SocketAddr,
    /// Time a client has to send its request headers (`server.header_read_timeout`).
    pub header_read_timeout: Duration,
    /// Most request headers accepted (`server.max_headers`); more get 431.
    pub max_headers: usize,
    /// Largest request head in bytes (`server.max_header_bytes`); bigger get 431.
    pub max_header_bytes: usize,
    /// Longest a graceful shutdown may take (`server.shutdown_timeout`);
    /// a cluster member keeps its last quarter for what it still has to
    /// send to Redis before leaving (default 10 s). Longer lets slow
    /// clients and a slow Redis finish; shorter restarts faster.
    pub shutdown_timeout: Duration,
    /// Prefix every path is served under, for proxies that do not strip it
    /// (`server.path_prefix`, e.g. `/realtime`; empty for none).
    pub path_prefix: String,
    /// Proxies whose forwarding header is believed (`server.trusted_proxies`, CIDRs).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The one header the trusted proxies write the client's address in
    /// (`server.forwarded_header`).
    pub forwarded_header: ForwardedHeader,
    /// Time a client has to send a whole request body
    /// (`server.body_read_timeout`); over it: 408 and the connection closes.
    pub body_read_timeout: Duration,
    /// Browser origins allowed to connect (`server.allowed_origins`);
    /// empty allows any, `"*"` allows any with CORS headers for polling.
    pub allowed_origins: Vec<String>,
    /// The socket.io front's settings (`[socketio]`, `[events]`).
    pub socketio: SioConfig,
    /// Paths that take raw WebSocket upgrades (`raw.paths`).
    pub raw_paths: Vec<String>,
    /// The raw front's settings (`[raw]`, `[limits]`).
    pub raw: WsConfig,
    /// Room policy (`[rooms]`).
    pub rooms: RoomPolicy,
    /// History kept for rooms with recovery (`rooms.history_size`, `rooms.history_ttl`).
    pub history: HistoryLimits,
    /// Limits the bus enforces on every publish (`[limits]`).
    pub bus: BusLimits,
    /// Live connections allowed in total (`limits.max_connections`; 0: no limit).
    pub max_connections: usize,
    /// Live connections allowed per client IP (`limits.max_connections_per_ip`; 0: no limit).
    pub max_connections_per_ip: usize,
    /// New connections per second per client IP (`limits.connects_per_second_per_ip`; 0: no limit).
    pub connects_per_second_per_ip: f64,
    /// New connections at once per client IP (`limits.connect_burst_per_ip`).
    pub connect_burst_per_ip: u32,
    /// The server HTTP API (`[api]`).
    pub api: ApiConfig,
    /// Who may connect (`[auth]`); see also `connect_webhook`.
    pub auth: ConnectAuth,
    /// The webhooks (`[webhooks]`, `auth.webhook_url`).
    pub webhooks: WebhookSettings,
    /// Cluster membership over Redis (`[cluster]`); `None` runs one node.
    pub cluster: Option<ClusterConfig>,
    /// Log lines as JSON objects instead of text (`log.format = "json"`).
    pub log_json: bool,
    /// A WebSocket endpoint that echoes every message, for conformance
    /// suites (`diagnostics.echo_path`; `None`: off).
    pub echo_path: Option<String>,
    /// A bare engine.io endpoint that echoes every message, for the
    /// engine.io-protocol suite (`diagnostics.engineio_echo_path`; `None`: off).
    pub engineio_echo_path: Option<String>,
    /// Where the demo page is served (`console.demo_path`; `None`: off).
    pub demo_path: Option<String>,
    /// Where the admin dashboard is served (`console.admin_path`; `None`: off).
    pub admin_path: Option<String>,
    /// Whether the socket.io browser client is served under the socket.io
    /// path, as Node's socket.io does (`socketio.serve_client`).
    pub serve_client: bool,
    /// Where Prometheus metrics are served, if at all (`[metrics]`).
    pub metrics_path: Option<String>,
    /// A listener of their own for the metrics (`metrics.listen`); `None`
    /// serves them on the main listener.
    pub metrics_listen: Option<SocketAddr>,
    /// Serve TLS with this certificate chain and key (`[tls]`; PEM files).
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

/// A loaded config: the validated settings, where they came from, and the
/// effective settings (file, defaults and environment) for display.
#[derive(Debug)]
pub struct LoadedConfig {
    /// The validated settings.
    pub config: GatewayConfig,
    /// The file read, or "built-in defaults".
    pub source: String,
    /// Every setting in effect, as TOML, secrets redacted.
    pub effective: String,
}

/// Where and how the gateway calls the backend.
#[derive(Debug, Clone, Default)]
pub struct WebhookSettings {
    /// The HTTP client's settings.
    pub client: WebhookConfig,
    /// Event routes, first match wins (`[[webhooks.routes]]`).
    pub routes: Vec<EventRoute>,
    /// Connect webhook (`auth.webhook_url`).
    pub connect_url: Option<String>,
    /// Disconnect webhook (`webhooks.disconnect_url`).
    pub disconnect_url: Option<String>,
}

impl GatewayConfig {
    /// Parses and validates a TOML document.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let raw: raw::RawConfig = toml::from_str(text)?;
        validate::validate(raw)
    }

    /// Parses a TOML document, applies environment overrides found by
    /// `lookup` (see [`ENV_OVERRIDES`]), and validates.
    pub fn from_toml_with_env(
        text: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(Self, String), ConfigError> {
        let mut raw: raw::RawConfig = toml::from_str(text)?;
        env::apply(&mut raw, lookup);
        let effective = env::redacted_toml(&raw);
        Ok((validate::validate(raw)?, effective))
    }

    /// The built-in defaults (the same as the shipped `gateway.toml`).
    pub fn defaults() -> Self {
        validate::validate(raw::RawConfig::default()).expect("built-in defaults are valid")
    }

    /// Reads `path`, or `./gateway.toml` when `path` is `None` and that file
    /// exists, or else the built-in defaults; then applies the environment
    /// overrides ([`ENV_OVERRIDES`]).
    pub fn load(path: Option<&Path>) -> Result<LoadedConfig, LoadError> {
        let (text, source) = match path {
            Some(path) => (read(path)?, path.display().to_string()),
            None if Path::new("gateway.toml").is_file() => {
                (read(Path::new("gateway.toml"))?, "gateway.toml".into())
            }
            None => (String::new(), "built-in defaults".into()),
        };
        let (config, effective) =
            Self::from_toml_with_env(&text, |name| std::env::var(name).ok()).map_err(|error| {
                LoadError::Config {
                    path: source.clone(),
                    source: error,
                }
            })?;
        Ok(LoadedConfig {
            config,
            source,
            effective,
        })
    }
}

fn read(path: &Path) -> Result<String, LoadError> {
    std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// Why a config file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is invalid.
    #[error("invalid config {path}: {source}")]
    Config {
        /// The file.
        path: String,
        /// What is wrong.
        source: ConfigError,
    },
}

#[cfg(test)]
mod tests;
