//! The backend's sections: `[api]`, `[webhooks]` and `[auth]`.

use std::sync::Arc;
use std::time::Duration;

use sockgate_auth::{JwtAuthenticator, JwtConfig};
use sockgate_backend::{ApiConfig, EventRoute, WebhookConfig};
use sockgate_core::{Authenticator, ConnectAuth};

use super::rules::{at_least, mount_path, positive};
use super::Result;
use crate::config::raw::{RawApi, RawAuth, RawWebhooks};
use crate::config::WebhookSettings;
use crate::ConfigError;

/// `[api]`: a path of its own (not socket.io's, not a raw path) and keys
/// long enough to be secrets.
pub(super) fn api(api: RawApi, sio_path: &str, raw_paths: &[String]) -> Result<ApiConfig> {
    let api_path = mount_path("api.path", &api.path)?
        .trim_end_matches('/')
        .to_owned();
    if api_path.is_empty()
        || format!("{api_path}/").starts_with(sio_path)
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
    Ok(ApiConfig {
        path: api_path,
        keys: api.keys,
        max_body_bytes: api.max_body_bytes,
    })
}

/// `[webhooks]` and `auth.webhook_url` (the connect webhook, called by
/// the same client).
pub(super) fn webhooks(hooks: &RawWebhooks, connect_url: &str) -> Result<WebhookSettings> {
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
        connect_url: url("auth.webhook_url", connect_url)?,
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

/// `[auth]`, validated.
pub(super) struct Auth {
    /// The authenticator the fronts use (the connect webhook, when
    /// configured, is added by the gateway, which owns the HTTP client).
    pub(super) connect: ConnectAuth,
    /// How long a raw client has to authenticate (`auth.timeout`).
    pub(super) timeout: Duration,
}

/// `[auth]`: one way to authenticate (JWT keys or the connect webhook),
/// and one at least when it is required.
pub(super) fn auth(raw: &RawAuth, connect_webhook: bool) -> Result<Auth> {
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
    positive("auth.timeout", raw.timeout)?;
    Ok(Auth {
        connect: ConnectAuth {
            required: raw.required,
            authenticator,
        },
        timeout: raw.timeout,
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
