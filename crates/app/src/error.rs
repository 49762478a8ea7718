//! Errors of config loading and serving.

use std::net::SocketAddr;

/// A config file that cannot be used; messages name the TOML key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file is not valid TOML or has unknown keys or wrong types.
    #[error("{0}")]
    Parse(#[from] toml::de::Error),
    /// A value is of the right type but breaks a rule.
    #[error("{key}: {message}")]
    Invalid {
        /// The TOML key path, e.g. `raw.paths[0]`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Why the gateway could not serve.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The TLS certificate or key cannot be used.
    #[error(transparent)]
    Tls(#[from] crate::TlsError),
    /// The node could not join its cluster.
    #[error(transparent)]
    Cluster(#[from] sockgate_redis::ClusterError),
    /// The webhooks' HTTP client could not be built.
    #[error(transparent)]
    WebhookClient(#[from] sockgate_backend::WebhookClientError),
    /// An event webhook route's patterns do not compile (a config that
    /// was validated never has one; a hand-built one may).
    #[error("cannot route the event webhooks: {0}")]
    EventRoutes(#[from] sockgate_backend::RouteError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}
