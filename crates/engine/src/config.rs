//! [`EngineConfig`]: the engine's settings, with engine.io's own defaults.

use std::time::Duration;

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Settings; defaults are engine.io's own.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Time between two heartbeats (v4: the server pings one interval after
    /// the open and after each pong; v3: the client pings this often).
    /// Default 25 s.
    pub ping_interval: Duration,
    /// How long a ping may go unanswered (v4) or, on top of `ping_interval`,
    /// how long the client may stay silent (v3). Default 20 s.
    pub ping_timeout: Duration,
    /// How long a websocket upgrade may take from the probe to the `5`
    /// (Node's `upgradeTimeout`). Default 10 s.
    pub upgrade_timeout: Duration,
    /// Largest polling POST body and websocket message, in bytes; advertised
    /// as `maxPayload` in the v4 open packet. Default 100,000.
    pub max_payload: u64,
    /// Frames a session's outbound queue holds before the session is closed
    /// as a slow consumer. Default 1024.
    pub outbound_queue: usize,
    /// tungstenite's read buffer, resident for the connection's life. Small
    /// saves memory per connection; large saves read calls. Default 1024.
    pub ws_read_buffer_bytes: usize,
    /// Whether engine.io v3 clients (`EIO=3`, socket.io-client 2.x) may
    /// connect. Default true.
    pub allow_eio3: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            upgrade_timeout: Duration::from_secs(10),
            max_payload: 100_000,
            outbound_queue: 1024,
            ws_read_buffer_bytes: 1024,
            allow_eio3: true,
        }
    }
}

impl EngineConfig {
    /// tungstenite's settings: a small resident read buffer, messages and
    /// frames bounded by `max_payload`, and a bounded write buffer, so that
    /// a client that does not read backs up into the outbound queue.
    pub(crate) fn tungstenite(&self) -> WebSocketConfig {
        let max_message = usize::try_from(self.max_payload).unwrap_or(usize::MAX);
        let write_batch = 16 * 1024;
        WebSocketConfig::default()
            .read_buffer_size(self.ws_read_buffer_bytes)
            .write_buffer_size(write_batch)
            .max_write_buffer_size(
                write_batch
                    .saturating_add(max_message.saturating_mul(2))
                    .max(128 * 1024),
            )
            .max_message_size(Some(max_message))
            .max_frame_size(Some(max_message))
    }
}
