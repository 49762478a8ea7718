//! Settings of the cluster bus (`[cluster]`).

use std::time::Duration;

/// How a node joins the cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// `redis://host:port/db` (`cluster.redis_url`).
    pub redis_url: String,
    /// Prefix of every key and channel (`cluster.prefix`), so several
    /// clusters can share one Redis.
    pub prefix: String,
    /// This node's id (`cluster.node_id`; random when empty).
    pub node_id: String,
    /// How often the node refreshes its heartbeat (`cluster.heartbeat`).
    pub heartbeat: Duration,
    /// How long after its last heartbeat a node's connections vanish from
    /// cluster-wide counts (`cluster.node_ttl`).
    pub node_ttl: Duration,
    /// Refuse to start when Redis cannot be reached (`cluster.required`);
    /// otherwise start local-only and keep trying.
    pub required: bool,
    /// Time to wait for Redis at start and per command (`cluster.timeout`).
    pub timeout: Duration,
    /// Cluster messages waiting to be sent (`cluster.outgoing_queue`);
    /// beyond it they are dropped and counted.
    pub outgoing_queue: usize,
    /// Listen for `@socket.io/redis-emitter` publishes (`cluster.emitter`).
    pub emitter: bool,
    /// The emitter's key prefix (`cluster.emitter_prefix`, socket.io's `socket.io`).
    pub emitter_prefix: String,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            redis_url: String::new(),
            prefix: "sockgate".into(),
            node_id: String::new(),
            heartbeat: Duration::from_secs(2),
            node_ttl: Duration::from_secs(10),
            required: true,
            timeout: Duration::from_secs(5),
            outgoing_queue: 65_536,
            emitter: true,
            emitter_prefix: "socket.io".into(),
        }
    }
}
