//! Opening many connections at once, each joined to its room, with a
//! bounded number of handshakes in flight and spread over source addresses
//! (one address has about 28,000 ephemeral ports).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::conn::{Conn, Protocol, Target};

/// How to open the swarm.
pub(crate) struct SwarmPlan {
    /// Connections to open.
    pub(crate) count: usize,
    /// Handshakes in flight at once.
    pub(crate) concurrency: usize,
    /// Source addresses 127.0.0.1, 127.0.0.2, … used round-robin.
    pub(crate) sources: usize,
    /// Give up on the swarm after this long.
    pub(crate) timeout: Duration,
}

/// The open connections, in index order, and what failed.
pub(crate) struct Swarm {
    pub(crate) conns: Vec<Conn>,
    pub(crate) failed: usize,
    pub(crate) first_error: Option<String>,
    pub(crate) elapsed: Duration,
}

/// The source address of connection `index` among `sources` addresses.
pub(crate) fn source(index: usize, sources: usize) -> Option<IpAddr> {
    (sources > 1).then(|| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (index % sources) as u8)))
}

/// Opens `plan.count` connections: connection `i` speaks `protocol_of(i)`
/// and joins `room_of(i)`.
pub(crate) async fn open(
    target: &Target,
    plan: &SwarmPlan,
    protocol_of: impl Fn(usize) -> Protocol,
    room_of: impl Fn(usize) -> String,
) -> Swarm {
    let started = Instant::now();
    let permits = Arc::new(Semaphore::new(plan.concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for index in 0..plan.count {
        let permit = permits.clone().acquire_owned().await.expect("semaphore open");
        let (target, protocol, room) = (target.clone(), protocol_of(index), room_of(index));
        let source = source(index, plan.sources);
        let timeout = plan.timeout;
        tasks.spawn(async move {
            let result = tokio::time::timeout(timeout, async {
                let mut conn = Conn::open(&target, protocol, source).await?;
                conn.join(&room).await?;
                anyhow::Ok(conn)
            })
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("timed out")));
            drop(permit);
            (index, result)
        });
    }
    let mut slots: Vec<Option<Conn>> = (0..plan.count).map(|_| None).collect();
    let (mut failed, mut first_error) = (0, None);
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, Ok(conn))) => slots[index] = Some(conn),
            Ok((_, Err(error))) => {
                failed += 1;
                first_error.get_or_insert_with(|| format!("{error:#}"));
            }
            Err(error) => {
                failed += 1;
                first_error.get_or_insert_with(|| error.to_string());
            }
        }
    }
    Swarm {
        conns: slots.into_iter().flatten().collect(),
        failed,
        first_error,
        elapsed: started.elapsed(),
    }
}
