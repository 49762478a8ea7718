//! Checks that several sections share: durations, minimums, mount paths.

use std::time::Duration;

use super::Result;
use crate::ConfigError;

/// A duration that must not be zero.
pub(super) fn positive(key: &str, value: Duration) -> Result<()> {
    if value.is_zero() {
        return Err(ConfigError::invalid(key, "must be longer than 0s"));
    }
    Ok(())
}

/// A number with a floor.
pub(super) fn at_least(key: &str, value: u64, min: u64) -> Result<()> {
    if value < min {
        return Err(ConfigError::invalid(
            key,
            format!("must be at least {min}, got {value}"),
        ));
    }
    Ok(())
}

/// A URL path the gateway mounts something on: absolute, no query.
pub(super) fn mount_path<'a>(key: &str, path: &'a str) -> Result<&'a str> {
    if !path.starts_with('/') || path.contains(['?', '#', ' ']) {
        return Err(ConfigError::invalid(
            key,
            format!("{path:?} must be an absolute path like \"/ws\""),
        ));
    }
    Ok(path)
}
