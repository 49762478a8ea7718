//! The listener's sections: `listen`, `[server]`, `[metrics]`, `[tls]` and `[log]`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::rules::{at_least, mount_path, positive};
use super::Result;
use crate::config::raw::{RawLog, RawMetrics, RawServer, RawTls};
use crate::{ConfigError, ForwardedHeader};

/// `listen`: the front listener's address.
pub(super) fn listen(listen: &str) -> Result<SocketAddr> {
    listen
        .parse()
        .map_err(|_| ConfigError::invalid("listen", format!("{listen:?} is not an IP:port address")))
}

/// `[server]`, validated.
pub(super) struct Server {
    pub(super) header_read_timeout: Duration,
    pub(super) shutdown_timeout: Duration,
    pub(super) body_read_timeout: Duration,
    pub(super) max_headers: usize,
    pub(super) max_header_bytes: usize,
    pub(super) trusted_proxies: Vec<ipnet::IpNet>,
    pub(super) forwarded_header: ForwardedHeader,
    pub(super) allowed_origins: Vec<String>,
    /// Without its trailing slash; empty for none.
    pub(super) path_prefix: String,
}

/// `[server]`: timeouts, head limits, the proxies believed and the origins allowed.
pub(super) fn server(server: RawServer) -> Result<Server> {
    positive("server.header_read_timeout", server.header_read_timeout)?;
    positive("server.shutdown_timeout", server.shutdown_timeout)?;
    positive("server.body_read_timeout", server.body_read_timeout)?;
    at_least("server.max_headers", server.max_headers as u64, 16)?;
    // hyper's read buffer has a floor of 8 KiB.
    at_least("server.max_header_bytes", server.max_header_bytes as u64, 8192)?;
    let mut trusted_proxies = Vec::new();
    for (i, entry) in server.trusted_proxies.iter().enumerate() {
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
    for (i, origin) in server.allowed_origins.iter().enumerate() {
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
    let path_prefix = match server.path_prefix.trim_end_matches('/') {
        "" => String::new(),
        prefix => mount_path("server.path_prefix", prefix)?.to_owned(),
    };
    Ok(Server {
        header_read_timeout: server.header_read_timeout,
        shutdown_timeout: server.shutdown_timeout,
        body_read_timeout: server.body_read_timeout,
        max_headers: server.max_headers,
        max_header_bytes: server.max_header_bytes,
        trusted_proxies,
        forwarded_header: server.forwarded_header,
        allowed_origins: server.allowed_origins,
        path_prefix,
    })
}

/// `[metrics]`, validated.
pub(super) struct Metrics {
    /// `None` when `metrics.enabled` is off.
    pub(super) path: Option<String>,
    /// `None` serves them on the main listener.
    pub(super) listen: Option<SocketAddr>,
}

/// `[metrics]`: where Prometheus scrapes, and on which listener.
pub(super) fn metrics(metrics: &RawMetrics) -> Result<Metrics> {
    let listen = match metrics.listen.as_str() {
        "" => None,
        listen => Some(listen.parse().map_err(|_| {
            ConfigError::invalid("metrics.listen", format!("{listen:?} is not an IP:port address"))
        })?),
    };
    let path = match metrics.enabled {
        true => Some(mount_path("metrics.path", &metrics.path)?.to_owned()),
        false => None,
    };
    Ok(Metrics { path, listen })
}

/// `[tls]`: the certificate chain and key, both or neither.
pub(super) fn tls(tls: &RawTls) -> Result<Option<(PathBuf, PathBuf)>> {
    match (tls.cert.as_str(), tls.key.as_str()) {
        ("", "") => Ok(None),
        ("", _) | (_, "") => Err(ConfigError::invalid(
            "tls",
            "set both tls.cert and tls.key, or neither",
        )),
        (cert, key) => {
            // Checked now, so that a bad certificate fails `sockgate check` too.
            crate::tls::acceptor(cert.as_ref(), key.as_ref())
                .map_err(|e| ConfigError::invalid(e.key, e.message))?;
            Ok(Some((cert.into(), key.into())))
        }
    }
}

/// `[log]`: whether log lines are JSON objects.
pub(super) fn log(log: &RawLog) -> Result<bool> {
    match log.format.as_str() {
        "text" => Ok(false),
        "json" => Ok(true),
        other => Err(ConfigError::invalid(
            "log.format",
            format!("{other:?}: use \"text\" or \"json\""),
        )),
    }
}
