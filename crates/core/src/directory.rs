//! [`Directory`]: who is connected and where, for the HTTP API. On one node
//! it reads the local bus; in a cluster it reads the cluster-wide state
//! kept in Redis, so it is asynchronous.

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

use crate::{ConnSnapshot, Sid};

/// A boxed directory answer.
pub type DirectoryFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One connection as the directory reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnRecord {
    /// The connection id.
    pub sid: String,
    /// `raw` or `socket.io`.
    pub protocol: String,
    /// The socket.io namespace.
    pub namespace: Option<String>,
    /// The authenticated user.
    pub user: Option<String>,
    /// The client's address as its node saw it.
    pub peer: Option<String>,
    /// When the connection was accepted, in milliseconds since the epoch.
    pub connected_at_ms: u64,
    /// Its rooms, sorted.
    pub rooms: Vec<String>,
    /// The node it is connected to, in a cluster.
    #[serde(default)]
    pub node: Option<String>,
}

impl From<&ConnSnapshot> for ConnRecord {
    fn from(snapshot: &ConnSnapshot) -> Self {
        let meta = &snapshot.meta;
        ConnRecord {
            sid: snapshot.sid.to_string(),
            protocol: meta.protocol.as_str().to_owned(),
            namespace: meta.namespace.clone(),
            user: meta.user.clone(),
            peer: meta.peer.map(|peer| peer.to_string()),
            connected_at_ms: meta
                .connected_at
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                .unwrap_or_default(),
            rooms: snapshot.rooms.iter().map(|room| room.to_string()).collect(),
            node: None,
        }
    }
}

/// The state of this node's cluster membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterStatus {
    /// This node's id.
    pub node: String,
    /// Whether the node is connected to Redis now.
    pub connected: bool,
    /// `"connected"`; `"failing_over"` while disconnected from a Redis
    /// Cluster of which some masters still answer (one shard failing
    /// over: the node serves on, and is ready); `"disconnected"` when
    /// Redis is gone (the node is not ready).
    pub state: &'static str,
    /// Cluster messages published.
    pub sent: u64,
    /// Cluster messages received from other nodes and emitters.
    pub received: u64,
    /// Messages that could not reach the cluster (queue full or Redis down).
    pub send_failures: u64,
    /// Times the node reconnected to Redis.
    pub reconnects: u64,
    /// `"single"` (one Redis) or `"cluster"` (a Redis Cluster).
    pub topology: &'static str,
    /// On a Redis Cluster: its masters as this node last learned them, and
    /// whether this node is connected to each (empty on one Redis).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<ShardStatus>,
}

/// One master of a Redis Cluster, as a node sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShardStatus {
    /// Its address, `host:port`.
    pub master: String,
    /// Whether this node's connections (publishing and subscribing) reach it now.
    pub connected: bool,
    /// Whether it answers: `connected`, or, while the node's client
    /// reconnects, whether it accepts connections (probed).
    pub answers: bool,
}

/// Cluster-wide (or node-wide) answers about rooms and connections.
pub trait Directory: Send + Sync {
    /// Every room with its member count, sorted by name.
    fn room_counts(&self) -> DirectoryFuture<'_, Vec<(String, usize)>>;
    /// The members of a room (empty if it does not exist), sorted.
    fn room_members<'a>(&'a self, room: &'a str) -> DirectoryFuture<'a, Vec<Sid>>;
    /// One connection, wherever it is.
    fn find_connection(&self, sid: Sid) -> DirectoryFuture<'_, Option<ConnRecord>>;
    /// This node's cluster membership; `None` for a node that runs alone.
    fn cluster_status(&self) -> Option<ClusterStatus> {
        None
    }
}
