//! The `[console]` section: pages that must not shadow another endpoint.

use super::rules::mount_path;
use super::Result;
use crate::config::raw::RawConsole;
use crate::ConfigError;

/// Paths other endpoints own, which a console page must not shadow.
pub(super) struct Taken<'a> {
    pub(super) sio_path: &'a str,
    pub(super) raw_paths: &'a [String],
    pub(super) api_path: &'a str,
    pub(super) echo_path: Option<&'a str>,
    pub(super) engineio_echo_path: Option<&'a str>,
}

/// `[console]`, validated; `None` for a page that is off.
pub(super) struct Console {
    pub(super) demo_path: Option<String>,
    pub(super) admin_path: Option<String>,
}

/// `[console]`: the demo page and the admin dashboard, on distinct free paths.
pub(super) fn console(console: &RawConsole, taken: &Taken<'_>) -> Result<Console> {
    let demo_path = page_path("console.demo_path", &console.demo_path, taken)?;
    let admin_path = page_path("console.admin_path", &console.admin_path, taken)?;
    if demo_path.is_some() && demo_path == admin_path {
        return Err(ConfigError::invalid(
            "console.admin_path",
            "must differ from console.demo_path",
        ));
    }
    Ok(Console {
        demo_path,
        admin_path,
    })
}

/// `console.*_path`: empty for off, else an absolute path that is not
/// another endpoint's or inside one. (Endpoints inside a page's path, such
/// as `api.path = "/admin/api"`, are fine: they are routed first.)
fn page_path(key: &str, path: &str, taken: &Taken<'_>) -> Result<Option<String>> {
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
        .chain(taken.engineio_echo_path)
        .find(|other| inside(other));
    if let Some(other) = clash {
        return Err(ConfigError::invalid(
            key,
            format!("{path:?} is taken by {other:?}"),
        ));
    }
    Ok(Some(path.to_owned()))
}
