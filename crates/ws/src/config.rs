//! Settings of the raw WebSocket front.

use std::time::Duration;

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// How raw WebSocket connections are accepted and run.
#[derive(Debug, Clone)]
pub struct WsConfig {
    /// Accepted `Sec-WebSocket-Protocol` names; `"*"` accepts any offer by
    /// echoing the first one (`raw.subprotocols`).
    pub subprotocols: Vec<String>,
    /// How often the gateway pings an idle client (`raw.ping_interval`).
    pub ping_interval: Duration,
    /// How long a client may stay silent after a ping before it is closed
    /// (`raw.ping_timeout`).
    pub ping_timeout: Duration,
    /// How long the gateway waits to deliver its close frame to a closing
    /// client before dropping the TCP connection (`raw.close_timeout`).
    pub close_timeout: Duration,
    /// Messages waiting for one client; a client that lets it fill up is
    /// disconnected as a slow consumer (`limits.outbound_queue`).
    pub outbound_queue: usize,
    /// Largest accepted message, in bytes; larger ones close the connection
    /// with 1009 (`limits.max_message_bytes`).
    pub max_message_bytes: usize,
    /// Time a client has to authenticate after the handshake (`auth.timeout`).
    pub auth_timeout: Duration,
    /// Average messages per second a client may send (`limits.messages_per_second`).
    pub messages_per_second: u32,
    /// Messages a client may send in one burst (`limits.message_burst`).
    pub message_burst: u32,
    /// How deep an event for the backend may nest and how many
    /// `{"$binary":…}` objects it may carry (`limits.max_payload_depth`,
    /// `limits.max_binary_attachments`); the bus checks publishes itself.
    pub payload: sockgate_core::PayloadLimits,
    /// Bytes all raw outbound queues may hold together before connections
    /// that have fallen behind are closed (`limits.max_queued_bytes`).
    pub max_queued_bytes: usize,
    /// Bytes of socket read buffer kept per connection (`raw.read_buffer_bytes`).
    pub read_buffer_bytes: usize,
    /// Bytes of encoded frames the socket may hold unsent before writes
    /// wait (`raw.write_buffer_bytes`).
    pub write_buffer_bytes: usize,
    /// Bytes of frames collected before a write to the socket, so that a
    /// batch of queued messages costs one syscall (`raw.write_batch_bytes`).
    pub write_batch_bytes: usize,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            subprotocols: vec!["*".to_owned()],
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            close_timeout: Duration::from_secs(2),
            auth_timeout: Duration::from_secs(10),
            messages_per_second: 100,
            message_burst: 200,
            outbound_queue: 1024,
            max_message_bytes: 64 * 1024,
            payload: sockgate_core::PayloadLimits::default(),
            max_queued_bytes: 256 * 1024 * 1024,
            read_buffer_bytes: 1024,
            write_buffer_bytes: 128 * 1024,
            write_batch_bytes: 16 * 1024,
        }
    }
}

impl WsConfig {
    /// The tungstenite settings that enforce these limits.
    ///
    /// tungstenite keeps its read buffer resident (128 KiB by default, ~140 KB
    /// per idle connection) and leaves its write buffer unbounded, so both are
    /// set here: the read buffer small, the write buffer bounded so that a
    /// slow reader backs up into the outbound queue, where it is detected.
    /// Frames are collected up to `write_batch_bytes` before they are
    /// written (the writer flushes after each batch anyway): written one by
    /// one, a fan-out costs a syscall per delivery, 9x the CPU.
    pub fn tungstenite(&self) -> WebSocketConfig {
        let max_write = self
            .write_buffer_bytes
            .max(self.write_batch_bytes + self.max_message_bytes * 2);
        WebSocketConfig::default()
            .read_buffer_size(self.read_buffer_bytes)
            .write_buffer_size(self.write_batch_bytes)
            .max_write_buffer_size(max_write)
            .max_message_size(Some(self.max_message_bytes))
            .max_frame_size(Some(self.max_message_bytes))
    }
}
