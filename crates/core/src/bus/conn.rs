//! What the bus knows about a connection besides its rooms.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use crate::{RoomName, Sid};

/// The client protocol of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Raw protocol v1 over plain WebSocket.
    Raw,
    /// socket.io (any transport, engine.io v3 or v4).
    SocketIo,
}

impl Protocol {
    /// `"raw"` or `"socket.io"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Raw => "raw",
            Protocol::SocketIo => "socket.io",
        }
    }
}

/// What the bus knows about a connection besides its rooms.
#[derive(Debug, Clone)]
pub struct ConnMeta {
    /// The client protocol.
    pub protocol: Protocol,
    /// The socket.io namespace, for socket.io connections.
    pub namespace: Option<String>,
    /// The authenticated user, if any; the connection is in `user:<id>`.
    pub user: Option<String>,
    /// The client's address as the gateway sees it.
    pub peer: Option<SocketAddr>,
    /// When the connection was accepted.
    pub connected_at: SystemTime,
    /// Backend data from the connect webhook, passed to event webhooks.
    pub metadata: Option<Arc<serde_json::Value>>,
    /// The token under which its rooms are kept when it goes away, when
    /// some rooms keep a history (see [`Recovery`](crate::Recovery)).
    pub resume_token: Option<Arc<str>>,
}

impl ConnMeta {
    /// Metadata for a connection accepted now.
    pub fn new(protocol: Protocol, peer: Option<SocketAddr>) -> Self {
        ConnMeta {
            protocol,
            namespace: None,
            user: None,
            peer,
            connected_at: SystemTime::now(),
            metadata: None,
            resume_token: None,
        }
    }
}

/// A copy of one connection's state.
#[derive(Debug, Clone)]
pub struct ConnSnapshot {
    /// The connection id.
    pub sid: Sid,
    /// Its metadata.
    pub meta: ConnMeta,
    /// The rooms it is in, sorted.
    pub rooms: Vec<RoomName>,
}
