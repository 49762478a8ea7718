//! The `[cluster]` section.

use sockgate_redis::{ClusterConfig, RedisTopology};

use super::rules::{at_least, positive};
use super::Result;
use crate::config::raw::RawCluster;
use crate::ConfigError;

/// `[cluster]`: `None` unless a Redis URL is set.
pub(super) fn cluster(cluster: RawCluster) -> Result<Option<ClusterConfig>> {
    if cluster.redis_url.is_empty() {
        return Ok(None);
    }
    let topology = RedisTopology::of_url(&cluster.redis_url)
        .map_err(|reason| ConfigError::invalid("cluster.redis_url", reason))?;
    positive("cluster.heartbeat", cluster.heartbeat)?;
    positive("cluster.timeout", cluster.timeout)?;
    if cluster.node_ttl < cluster.heartbeat * 2 {
        return Err(ConfigError::invalid(
            "cluster.node_ttl",
            "must be at least twice cluster.heartbeat, or live nodes would flicker out",
        ));
    }
    for (key, value) in [
        ("cluster.prefix", &cluster.prefix),
        ("cluster.emitter_prefix", &cluster.emitter_prefix),
    ] {
        if value.is_empty() || value.contains(['#', ':', '*', ' ']) {
            return Err(ConfigError::invalid(
                key,
                "a non-empty name without '#', ':', '*' or spaces",
            ));
        }
    }
    // On a Redis Cluster a brace in a key chooses its hash slot.
    if topology == RedisTopology::Cluster && cluster.prefix.contains(['{', '}']) {
        return Err(ConfigError::invalid(
            "cluster.prefix",
            "no '{' or '}' with a Redis Cluster (they would choose every key's hash slot)",
        ));
    }
    at_least("cluster.outgoing_queue", cluster.outgoing_queue as u64, 1)?;
    Ok(Some(ClusterConfig {
        redis_url: cluster.redis_url,
        prefix: cluster.prefix,
        node_id: cluster.node_id,
        heartbeat: cluster.heartbeat,
        node_ttl: cluster.node_ttl,
        required: cluster.required,
        timeout: cluster.timeout,
        outgoing_queue: cluster.outgoing_queue,
        emitter: cluster.emitter,
        emitter_prefix: cluster.emitter_prefix,
    }))
}
