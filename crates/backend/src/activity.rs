//! What the admin dashboard reads besides rooms: live connection counts,
//! recent rates, and the newest connections. The app gathers them (it sees
//! both protocol fronts); the API only serves them.

use serde::Serialize;
use sockgate_core::ConnRecord;

/// A source of this node's live numbers, for `GET /api/stats` and
/// `GET /api/connections`.
pub trait Activity: Send + Sync {
    /// Connection counts now, and the recent history of rates.
    fn stats(&self) -> Stats;

    /// Up to `limit` of this node's connections, newest first, each with
    /// its transport (`websocket` or `polling`).
    fn newest_connections(&self, limit: usize) -> Vec<(ConnRecord, &'static str)>;
}

/// `GET /api/stats`.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    /// Open connections on this node.
    pub connections: ConnectionCounts,
    /// Rooms with at least one member on this node.
    pub rooms: usize,
    /// What happened in each recent interval.
    pub history: History,
}

/// Open connections by protocol and transport.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ConnectionCounts {
    /// All of them.
    pub total: u64,
    /// Raw WebSocket clients.
    pub raw: u64,
    /// socket.io clients on the websocket transport.
    pub socketio_websocket: u64,
    /// socket.io clients on long-polling.
    pub socketio_polling: u64,
}

/// Counts per fixed interval, oldest first.
#[derive(Debug, Clone, Default, Serialize)]
pub struct History {
    /// Length of one interval.
    pub interval_seconds: u64,
    /// The intervals kept (a bounded number).
    pub samples: Vec<Sample>,
}

/// What happened during one interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Sample {
    /// End of the interval, in milliseconds since the epoch.
    pub at: u64,
    /// Messages received from clients of both protocols.
    pub messages_in: u64,
    /// Events published to rooms (by clients or the backend).
    pub publishes: u64,
    /// Events queued to clients of both protocols, one per receiver.
    pub deliveries: u64,
    /// Open connections at the end of the interval.
    pub connections: u64,
}
