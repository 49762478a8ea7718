//! Settings of the socket.io front.

use std::time::Duration;

/// Names of the control events socket.io clients emit to the gateway
/// (`[events]`); configurable because migrating apps may already use them.
#[derive(Debug, Clone)]
pub struct EventNames {
    /// `socket.emit(join, room, ack)`.
    pub join: String,
    /// `socket.emit(leave, room, ack)`.
    pub leave: String,
    /// `socket.emit(publish, {room, event, data}, ack)`.
    pub publish: String,
    /// `socket.emit(resume, {token, rooms}, ack)` (recovery).
    pub resume: String,
}

impl Default for EventNames {
    fn default() -> Self {
        EventNames {
            join: "join".into(),
            leave: "leave".into(),
            publish: "publish".into(),
            resume: "resume".into(),
        }
    }
}

/// How the socket.io engine is set up; defaults are socket.io's own.
#[derive(Debug, Clone)]
pub struct SioConfig {
    /// Request path of the engine (`socketio.path`, default `/socket.io/`).
    pub path: String,
    /// Namespaces served (`socketio.namespaces`); others get socket.io's
    /// "Invalid namespace" connect error.
    pub namespaces: Vec<String>,
    /// engine.io ping interval (`socketio.ping_interval`).
    pub ping_interval: Duration,
    /// engine.io ping timeout (`socketio.ping_timeout`).
    pub ping_timeout: Duration,
    /// Time a client has to send its socket.io CONNECT (`socketio.connect_timeout`).
    pub connect_timeout: Duration,
    /// Time a websocket upgrade of a polling session may take, from the
    /// websocket's arrival to the client's `5`; past it the websocket is
    /// closed and the session stays on polling (`socketio.upgrade_timeout`,
    /// Node's `upgradeTimeout`).
    pub upgrade_timeout: Duration,
    /// Largest packet accepted, on both transports (`socketio.max_payload`).
    pub max_payload: u64,
    /// Socket read buffer per websocket connection, resident for its life
    /// (`socketio.ws_read_buffer_bytes`).
    pub ws_read_buffer_bytes: usize,
    /// Packets queued for one client before its messages are dropped and it
    /// is disconnected at its next heartbeat (`limits.outbound_queue`).
    pub outbound_queue: usize,
    /// Control event names (`[events]`).
    pub events: EventNames,
    /// Average events per second a client may send (`limits.messages_per_second`).
    pub messages_per_second: u32,
    /// Events a client may send in one burst (`limits.message_burst`).
    pub message_burst: u32,
    /// Binary attachments one packet may carry; more close the connection
    /// with socket.io's "parse error" (`limits.max_binary_attachments`).
    pub max_binary_attachments: usize,
    /// socket.io's connection state recovery for stock clients
    /// (`socketio.connection_state_recovery`): CONNECT answers carry a
    /// `pid`, and events of recoverable rooms end with a string offset.
    pub connection_state_recovery: bool,
    /// Whether socket.io-client 2.x (engine.io v3) may connect
    /// (`socketio.allow_eio3`); when not, its handshake gets engine.io's
    /// error 5, "Unsupported protocol version".
    pub allow_eio3: bool,
}

impl Default for SioConfig {
    fn default() -> Self {
        SioConfig {
            path: "/socket.io/".into(),
            namespaces: vec!["/".into()],
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            connect_timeout: Duration::from_millis(45_000),
            upgrade_timeout: Duration::from_millis(10_000),
            max_payload: 100_000,
            ws_read_buffer_bytes: 1024,
            outbound_queue: 1024,
            events: EventNames::default(),
            messages_per_second: 100,
            message_burst: 200,
            max_binary_attachments: 10,
            connection_state_recovery: false,
            allow_eio3: true,
        }
    }
}
