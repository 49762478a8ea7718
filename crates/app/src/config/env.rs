//! Secrets from the environment, so they need not sit in the config file.
//! Each variable, when set, replaces the file's value.

use super::raw::RawConfig;

/// The variables read, and the keys they replace.
pub const ENV_OVERRIDES: [(&str, &str); 4] = [
    ("SOCKGATE_API_KEYS", "api.keys (comma-separated)"),
    ("SOCKGATE_JWT_HS256_SECRET", "auth.jwt.hs256_secret"),
    ("SOCKGATE_WEBHOOK_SECRET", "webhooks.secret"),
    ("SOCKGATE_REDIS_URL", "cluster.redis_url"),
];

/// Applies the overrides `lookup` finds (the process environment in
/// production, a map in tests).
pub(crate) fn apply(raw: &mut RawConfig, lookup: impl Fn(&str) -> Option<String>) {
    if let Some(keys) = lookup("SOCKGATE_API_KEYS") {
        raw.api.keys = keys
            .split(',')
            .map(str::trim)
            .filter(|key| !key.is_empty())
            .map(str::to_owned)
            .collect();
    }
    if let Some(secret) = lookup("SOCKGATE_JWT_HS256_SECRET") {
        raw.auth.jwt.hs256_secret = secret;
    }
    if let Some(secret) = lookup("SOCKGATE_WEBHOOK_SECRET") {
        raw.webhooks.secret = secret;
    }
    if let Some(url) = lookup("SOCKGATE_REDIS_URL") {
        raw.cluster.redis_url = url;
    }
}

/// The settings as TOML with every secret replaced by `"<redacted>"`.
pub(crate) fn redacted_toml(raw: &RawConfig) -> String {
    let mut value = toml::Value::try_from(raw).unwrap_or(toml::Value::Table(Default::default()));
    let redact = |value: &mut toml::Value| {
        let hidden = toml::Value::String("<redacted>".into());
        match value {
            toml::Value::String(s) if !s.is_empty() => *value = hidden,
            toml::Value::Array(items) => items.iter_mut().for_each(|item| *item = hidden.clone()),
            _ => {}
        }
    };
    for path in [
        &["api", "keys"][..],
        &["auth", "jwt", "hs256_secret"],
        &["webhooks", "secret"],
    ] {
        let mut cursor = Some(&mut value);
        for key in path {
            cursor = cursor.and_then(|v| v.get_mut(*key));
        }
        if let Some(secret) = cursor {
            redact(secret);
        }
    }
    toml::to_string_pretty(&value).unwrap_or_default()
}
