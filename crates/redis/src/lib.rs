//! sockgate's cluster bus: several gateway nodes share one room bus over
//! Redis pub/sub, and keep a cluster-wide directory of connections in Redis
//! with node heartbeats (`docs/clustering.md`).
//!
//! One Redis or a Redis Cluster (`redis-cluster://…`): on a cluster, room
//! channels are sharded and each room's keys share one hash slot
//! ([`RedisTopology`]).
//!
//! Local delivery stays the [`LocalBus`](sockgate_bus::LocalBus)'s job;
//! [`ClusterBus`] wraps it, forwarding what other nodes need and applying
//! what they send. Node backends using `@socket.io/redis-emitter` are heard
//! too ([`emitter`]).

mod cluster;
mod config;
mod directory;
pub mod emitter;
mod keys;
mod located;
mod message;
mod metrics;
mod pubsub;
mod recovery;
mod sender;

pub use cluster::{ClusterBus, ClusterError};
pub use config::{ClusterConfig, RedisTopology};
pub use metrics::{ClusterMetrics, ClusterSnapshot};
