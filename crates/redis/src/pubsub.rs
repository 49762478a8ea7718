//! Publishing and subscribing, plain on one Redis (`PUBLISH`/`SUBSCRIBE`)
//! or sharded on a Redis Cluster (`SPUBLISH`/`SSUBSCRIBE`), each confirmed:
//! a subscription counts once Redis has it, which is what a join's
//! [`Heard`](sockgate_core::Heard) waits for.
//!
//! Plain: fred answers a `SUBSCRIBE` before it has even written it; Redis
//! answers a `PING` on the same connection only after the commands before
//! it, so the `PING`'s answer is the confirmation, for any number of
//! channels at once.
//!
//! Sharded: fred sends each `SSUBSCRIBE` to the shard that owns its
//! channel's slot, over that shard's connection, follows `MOVED`, and
//! answers it with Redis's own reply (it never pipelines `SSUBSCRIBE` for
//! that reason), so the answer is the confirmation. One channel per
//! command: Redis refuses channels of different slots in one `SSUBSCRIBE`
//! (`CROSSSLOT`), and fred takes only the first of several replies as the
//! answer, leaving the others to be read as answers to later commands.
//! `SUNSUBSCRIBE` is sent one channel per command for the same reasons:
//! fred expects no answer to it, so an error reply would be misread.

use fred::clients::{Pipeline, SubscriberClient};
use fred::prelude::*;
use fred::types::config::Options;
use fred::types::ClusterHash;
use fred::util::redis_keyslot;

/// Queues a publish on `pipeline`.
pub(crate) async fn queue_publish(
    pipeline: &Pipeline<Client>,
    sharded: bool,
    channel: String,
    payload: String,
) -> Result<(), Error> {
    match sharded {
        true => pipeline.spublish(channel, payload).await,
        false => pipeline.publish(channel, payload).await,
    }
}

/// Subscribes to `channels` and answers, for each (in the same order),
/// whether Redis confirmed it.
pub(crate) async fn subscribe(
    subscriber: &SubscriberClient,
    sharded: bool,
    channels: Vec<String>,
) -> Vec<Result<(), Error>> {
    if channels.is_empty() {
        return Vec::new();
    }
    if !sharded {
        let count = channels.len();
        let confirmed = async {
            subscriber.subscribe(channels).await?;
            subscriber.ping::<Value>(None).await.map(drop)
        };
        return match confirmed.await {
            Ok(()) => (0..count).map(|_| Ok(())).collect(),
            Err(error) => vec![Err(error); count],
        };
    }
    // fred sends them one after another per shard; waiting for all at
    // once lets the shards work side by side.
    let each = channels
        .into_iter()
        .map(|channel| async move { subscriber.ssubscribe(channel).await });
    futures_util::future::join_all(each).await
}

/// Unsubscribes from `channels` (nothing is confirmed: a message that
/// still comes is for rooms without local members, and delivers nothing).
pub(crate) async fn unsubscribe(subscriber: &SubscriberClient, sharded: bool, channels: Vec<String>) {
    if channels.is_empty() {
        return;
    }
    let outcome = match sharded {
        false => subscriber.unsubscribe(channels).await,
        true => {
            let mut outcome = Ok(());
            for channel in channels {
                outcome = outcome.and(subscriber.sunsubscribe(channel).await);
            }
            outcome
        }
    };
    if let Err(error) = outcome {
        tracing::debug!(%error, "room unsubscription failed");
    }
}

/// Subscribes to `patterns` (`PSUBSCRIBE`, never sharded) and returns once
/// Redis has them. On a cluster fred sends every unsharded subscription of
/// a client to one node, chosen by the client's id; the `PING` that
/// confirms them goes there too. Any node will do: Redis Cluster forwards
/// every plain `PUBLISH` to every node.
pub(crate) async fn psubscribe(
    subscriber: &SubscriberClient,
    sharded: bool,
    patterns: Vec<String>,
) -> Result<(), Error> {
    if patterns.is_empty() {
        return Ok(());
    }
    subscriber.psubscribe(patterns).await?;
    match sharded {
        false => subscriber.ping::<Value>(None).await.map(drop),
        true => {
            let options = Options {
                cluster_hash: Some(ClusterHash::Custom(redis_keyslot(subscriber.id().as_bytes()))),
                ..Options::default()
            };
            subscriber
                .with_options(&options)
                .ping::<Value>(None)
                .await
                .map(drop)
        }
    }
}
