//! Settings of the cluster bus (`[cluster]`).

use std::time::Duration;

/// How a node joins the cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// `redis://host:port/db` for one Redis, or
    /// `redis-cluster://host:port?node=host:port&node=host:port` for a
    /// Redis Cluster (`cluster.redis_url`; see [`RedisTopology`]).
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

/// What `cluster.redis_url` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisTopology {
    /// One Redis (or a primary with replicas): `redis://` or `rediss://`.
    /// Channels are plain `PUBLISH`/`SUBSCRIBE`.
    Single,
    /// A Redis Cluster: `redis-cluster://` or `rediss-cluster://`, with
    /// more seed nodes as `node=host:port` query parameters. Room channels
    /// are sharded (`SPUBLISH`/`SSUBSCRIBE`, Redis 7 or later) and a room's
    /// keys share one hash slot.
    Cluster,
}

impl RedisTopology {
    /// Reads the topology from a URL, as the Redis client will parse it;
    /// the error says what is wrong with the URL.
    pub fn of_url(url: &str) -> Result<Self, String> {
        let scheme = url.split_once("://").map(|(scheme, _)| scheme);
        let topology = match scheme {
            Some("redis" | "rediss") => RedisTopology::Single,
            Some("redis-cluster" | "rediss-cluster") => RedisTopology::Cluster,
            _ => {
                return Err(format!(
                "{url:?} is neither a redis:// URL (one Redis) nor a redis-cluster:// URL (a Redis Cluster)"
            ))
            }
        };
        let parsed = fred::types::config::Config::from_url(url).map_err(|e| format!("{url:?}: {e}"))?;
        match (topology, parsed.server.is_clustered()) {
            (RedisTopology::Single, false) | (RedisTopology::Cluster, true) => Ok(topology),
            _ => Err(format!(
                "{url:?}: not understood as the topology its scheme names"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_topology() {
        assert_eq!(
            RedisTopology::of_url("redis://127.0.0.1:6379/0"),
            Ok(RedisTopology::Single)
        );
        assert_eq!(
            RedisTopology::of_url("redis-cluster://10.0.0.1:7000?node=10.0.0.2:7000&node=10.0.0.3:7000"),
            Ok(RedisTopology::Cluster)
        );
        for bad in [
            "http://x",
            "redis-sentinel://x:26379",
            "redis-cluster://",
            "nonsense",
        ] {
            assert!(RedisTopology::of_url(bad).is_err(), "{bad}");
        }
    }
}
