//! The protocol fronts' sections: `[socketio]`, `[raw]`, `[events]` and
//! `[diagnostics]`, and the fronts' settings put together from them.

use std::time::Duration;

use sockgate_core::is_reserved_event;
use sockgate_sio::{EventNames, SioConfig};
use sockgate_ws::WsConfig;

use super::limits::Limits;
use super::rules::{at_least, mount_path, positive};
use super::Result;
use crate::config::raw::{RawDiagnostics, RawEvents, RawSocketIo, RawWs};
use crate::ConfigError;

/// `[socketio]`, validated.
pub(super) struct SocketIo {
    /// With exactly one trailing slash.
    pub(super) path: String,
    pub(super) namespaces: Vec<String>,
    pub(super) ping_interval: Duration,
    pub(super) ping_timeout: Duration,
    pub(super) connect_timeout: Duration,
    pub(super) upgrade_timeout: Duration,
    pub(super) max_payload: u64,
    pub(super) ws_read_buffer_bytes: usize,
    pub(super) allow_eio3: bool,
    pub(super) serve_client: bool,
    pub(super) connection_state_recovery: bool,
}

impl SocketIo {
    /// The socket.io front's settings: this section, `[events]` and the
    /// per-connection `[limits]`.
    pub(super) fn config(&self, events: EventNames, limits: &Limits) -> SioConfig {
        SioConfig {
            path: self.path.clone(),
            namespaces: self.namespaces.clone(),
            ping_interval: self.ping_interval,
            ping_timeout: self.ping_timeout,
            connect_timeout: self.connect_timeout,
            upgrade_timeout: self.upgrade_timeout,
            max_payload: self.max_payload,
            ws_read_buffer_bytes: self.ws_read_buffer_bytes,
            outbound_queue: limits.outbound_queue,
            events,
            messages_per_second: limits.messages_per_second,
            message_burst: limits.message_burst,
            max_binary_attachments: limits.max_binary_attachments,
            connection_state_recovery: self.connection_state_recovery,
            allow_eio3: self.allow_eio3,
        }
    }
}

/// `[socketio]`: the engine.io path, the namespaces and the engine's timers.
pub(super) fn socketio(sio: RawSocketIo) -> Result<SocketIo> {
    let path = mount_path("socketio.path", &sio.path)?;
    let path = format!("{}/", path.trim_end_matches('/'));
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
    positive("socketio.upgrade_timeout", sio.upgrade_timeout)?;
    at_least("socketio.max_payload", sio.max_payload, 64)?;
    at_least(
        "socketio.ws_read_buffer_bytes",
        sio.ws_read_buffer_bytes as u64,
        512,
    )?;
    Ok(SocketIo {
        path,
        namespaces: sio.namespaces,
        ping_interval: sio.ping_interval,
        ping_timeout: sio.ping_timeout,
        connect_timeout: sio.connect_timeout,
        upgrade_timeout: sio.upgrade_timeout,
        max_payload: sio.max_payload,
        ws_read_buffer_bytes: sio.ws_read_buffer_bytes,
        allow_eio3: sio.allow_eio3,
        serve_client: sio.serve_client,
        connection_state_recovery: sio.connection_state_recovery,
    })
}

/// `[raw]`, validated.
pub(super) struct Raw {
    pub(super) paths: Vec<String>,
    pub(super) subprotocols: Vec<String>,
    pub(super) ping_interval: Duration,
    pub(super) ping_timeout: Duration,
    pub(super) close_timeout: Duration,
    pub(super) read_buffer_bytes: usize,
    pub(super) write_buffer_bytes: usize,
    pub(super) write_batch_bytes: usize,
}

impl Raw {
    /// The raw front's settings: this section (but its paths, which the
    /// listener routes), `auth.timeout` and the per-connection `[limits]`.
    pub(super) fn config(&self, auth_timeout: Duration, limits: &Limits) -> WsConfig {
        WsConfig {
            subprotocols: self.subprotocols.clone(),
            ping_interval: self.ping_interval,
            ping_timeout: self.ping_timeout,
            close_timeout: self.close_timeout,
            auth_timeout,
            messages_per_second: limits.messages_per_second,
            message_burst: limits.message_burst,
            outbound_queue: limits.outbound_queue,
            max_message_bytes: limits.max_message_bytes,
            payload: limits.payload,
            max_queued_bytes: limits.max_queued_bytes,
            read_buffer_bytes: self.read_buffer_bytes,
            write_buffer_bytes: self.write_buffer_bytes,
            write_batch_bytes: self.write_batch_bytes,
        }
    }
}

/// `[raw]`: the raw WebSocket paths (none inside socket.io's), the
/// subprotocols accepted and the session timers.
pub(super) fn raw(raw: RawWs, sio_path: &str) -> Result<Raw> {
    let mut paths = Vec::new();
    for (i, path) in raw.paths.iter().enumerate() {
        let key = format!("raw.paths[{i}]");
        let path = mount_path(&key, path)?;
        if path.starts_with(sio_path) || format!("{path}/") == sio_path {
            return Err(ConfigError::invalid(
                key,
                format!("{path:?} is inside socketio.path {sio_path:?}"),
            ));
        }
        if path == "/healthz" {
            return Err(ConfigError::invalid(key, "/healthz is the health check"));
        }
        paths.push(path.to_owned());
    }
    for (i, name) in raw.subprotocols.iter().enumerate() {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b',') {
            return Err(ConfigError::invalid(
                format!("raw.subprotocols[{i}]"),
                "a subprotocol is a non-empty token of visible ASCII without ','",
            ));
        }
    }
    positive("raw.ping_interval", raw.ping_interval)?;
    positive("raw.ping_timeout", raw.ping_timeout)?;
    positive("raw.close_timeout", raw.close_timeout)?;
    at_least("raw.read_buffer_bytes", raw.read_buffer_bytes as u64, 512)?;
    Ok(Raw {
        paths,
        subprotocols: raw.subprotocols,
        ping_interval: raw.ping_interval,
        ping_timeout: raw.ping_timeout,
        close_timeout: raw.close_timeout,
        read_buffer_bytes: raw.read_buffer_bytes,
        write_buffer_bytes: raw.write_buffer_bytes,
        write_batch_bytes: raw.write_batch_bytes,
    })
}

/// `[events]`: four distinct names that socket.io does not reserve.
pub(super) fn events(events: RawEvents) -> Result<EventNames> {
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
    Ok(EventNames {
        join: events.join,
        leave: events.leave,
        publish: events.publish,
        resume: events.resume,
    })
}

/// `[diagnostics]`, validated: `None` for an endpoint that is off.
pub(super) struct Diagnostics {
    pub(super) echo_path: Option<String>,
    pub(super) engineio_echo_path: Option<String>,
}

/// `[diagnostics]`: the echo endpoints, which must not shadow another one.
pub(super) fn diagnostics(
    diagnostics: &RawDiagnostics,
    sio_path: &str,
    raw_paths: &[String],
) -> Result<Diagnostics> {
    let free = |key: &str, path: &str| -> Result<Option<String>> {
        let path = match path {
            "" => return Ok(None),
            path => mount_path(key, path)?,
        };
        // The same path, or one inside the other (both are prefixes).
        let (a, b) = (path.trim_end_matches('/'), sio_path.trim_end_matches('/'));
        let nested = |a: &str, b: &str| a == b || a.starts_with(&format!("{b}/"));
        if nested(a, b) || nested(b, a) || raw_paths.iter().any(|p| p == path) {
            return Err(ConfigError::invalid(
                key,
                format!("{path:?} is already socket.io's or a raw path"),
            ));
        }
        Ok(Some(path.to_owned()))
    };
    let echo_path = free("diagnostics.echo_path", &diagnostics.echo_path)?;
    let key = "diagnostics.engineio_echo_path";
    let engineio_echo_path = free(key, &diagnostics.engineio_echo_path)?;
    if let (Some(echo), Some(engineio)) = (&echo_path, &engineio_echo_path) {
        if echo.trim_end_matches('/') == engineio.trim_end_matches('/') {
            return Err(ConfigError::invalid(
                key,
                "must differ from diagnostics.echo_path",
            ));
        }
    }
    Ok(Diagnostics {
        echo_path,
        engineio_echo_path,
    })
}
