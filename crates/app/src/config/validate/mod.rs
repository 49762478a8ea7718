//! Stage two of config loading: rules that serde cannot express, checked
//! section by section.
//!
//! Each `[section]` has a function that validates it and returns its typed
//! piece; [`validate`] calls them in file order, handing on what a later
//! section must not clash with (socket.io's path to `[raw]`, every
//! endpoint's path to `[console]`), then puts the pieces together: several
//! settings, such as the fronts', draw on more than one section.

mod backend;
mod cluster;
mod console;
mod fronts;
mod limits;
mod rules;
mod server;

use backend::{api, auth, webhooks};
use cluster::cluster;
use console::{console, Taken};
use fronts::{diagnostics, events, raw, socketio, Diagnostics};
use limits::{limits, rooms};
use server::{listen, log, metrics, server, tls};

use super::raw::RawConfig;
use super::GatewayConfig;
use crate::ConfigError;

type Result<T> = std::result::Result<T, ConfigError>;

/// The typed settings from the file as written, or the first rule it
/// breaks. The sections are checked in this order, so that a file with
/// several mistakes is always told about the same one first.
pub(super) fn validate(file: RawConfig) -> Result<GatewayConfig> {
    let listen = listen(&file.listen)?;
    let server = server(file.server)?;
    let socketio = socketio(file.socketio)?;
    let raw = raw(file.raw, &socketio.path)?;
    let events = events(file.events)?;
    let rooms = rooms(file.rooms)?;
    let limits = limits(file.limits)?;
    let Diagnostics {
        echo_path,
        engineio_echo_path,
    } = diagnostics(&file.diagnostics, &socketio.path, &raw.paths)?;
    let api = api(file.api, &socketio.path, &raw.paths)?;
    let console = console(
        &file.console,
        &Taken {
            sio_path: &socketio.path,
            raw_paths: &raw.paths,
            api_path: &api.path,
            echo_path: echo_path.as_deref(),
            engineio_echo_path: engineio_echo_path.as_deref(),
        },
    )?;
    let webhooks = webhooks(&file.webhooks, &file.auth.webhook_url)?;
    let auth = auth(&file.auth, webhooks.connect_url.is_some())?;
    let cluster = cluster(file.cluster)?;
    let metrics = metrics(&file.metrics)?;
    let tls = tls(&file.tls)?;
    let log_json = log(&file.log)?;

    Ok(GatewayConfig {
        listen,
        header_read_timeout: server.header_read_timeout,
        shutdown_timeout: server.shutdown_timeout,
        max_headers: server.max_headers,
        max_header_bytes: server.max_header_bytes,
        path_prefix: server.path_prefix,
        trusted_proxies: server.trusted_proxies,
        forwarded_header: server.forwarded_header,
        body_read_timeout: server.body_read_timeout,
        allowed_origins: server.allowed_origins,
        serve_client: socketio.serve_client,
        socketio: socketio.config(events, &limits),
        raw: raw.config(auth.timeout, &limits),
        raw_paths: raw.paths,
        history: rooms.history(&limits),
        rooms: rooms.policy,
        bus: limits.bus(),
        max_connections: limits.max_connections,
        max_connections_per_ip: limits.max_connections_per_ip,
        connects_per_second_per_ip: limits.connects_per_second_per_ip,
        connect_burst_per_ip: limits.connect_burst_per_ip,
        api,
        auth: auth.connect,
        webhooks,
        cluster,
        metrics_listen: metrics.listen,
        metrics_path: metrics.path,
        echo_path,
        engineio_echo_path,
        demo_path: console.demo_path,
        admin_path: console.admin_path,
        tls,
        log_json,
    })
}
