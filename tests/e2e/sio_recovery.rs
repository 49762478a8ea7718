//! socket.io's own connection state recovery, for stock clients: the
//! official socket.io-client 4 with reconnection on and no sockgate code.
//! A TCP proxy the test controls cuts the transport; the client comes back
//! by itself, on the same node or on another, with `socket.recovered` and
//! every event it missed, in order and once. When the gap cannot be
//! served it says so with `recovered === false`.

use serde_json::{json, Value};

use crate::util::api::api_config;
use crate::util::proxy::CutProxy;
use crate::util::recovery::gone;
use crate::util::redis::RedisServer;
use crate::util::{Gateway, RawClient, SioClient, SioOptions};

/// sockgate's engine with socket.io's recovery on, `act:*` rooms recoverable.
fn recovery_config(history_size: usize) -> String {
    format!(
        "{}[rooms]\nrecover = [\"act:*\"]\nhistory_size = {history_size}\n\
         [socketio]\nconnection_state_recovery = true\n",
        api_config()
    )
}

/// A stock client through `proxy`, reconnecting on its own.
async fn stock_client(gateway: &Gateway, proxy: &CutProxy, transports: &'static str) -> SioClient {
    SioClient::connect_with(
        gateway,
        SioOptions {
            url: Some(proxy.http_url()),
            transports,
            reconnect: true,
            ..SioOptions::default()
        },
    )
    .await
}

/// The next `count` `tick` events' arguments.
async fn ticks(client: &mut SioClient, count: usize) -> Vec<Vec<Value>> {
    let mut got = Vec::new();
    for _ in 0..count {
        got.push(client.expect_event("tick").await);
    }
    got
}

/// Drops `client`'s transport, waits until `gateway` has seen it go, and
/// publishes `missed` to `act:1` meanwhile.
async fn drop_and_miss(
    proxy: &CutProxy,
    gateway: &Gateway,
    client: &mut SioClient,
    publisher: &mut RawClient,
    missed: &[i64],
) {
    proxy.cut().await;
    // A cut websocket closes; a cut poll errors (as with Node's server).
    let reason = client.expect_type("disconnect").await["reason"].clone();
    assert!(
        reason == "transport close" || reason == "transport error",
        "{reason}"
    );
    gone(gateway, &client.id).await;
    for n in missed {
        publisher.publish("act:1", "tick", json!(n)).await;
    }
}

async fn recovers_on_one_node(transports: &'static str) {
    let gateway = Gateway::with_config(&recovery_config(100)).await;
    let proxy = CutProxy::start(gateway.addr).await;
    let mut publisher = RawClient::connect(&gateway.ws_url("/ws")).await;
    let mut client = stock_client(&gateway, &proxy, transports).await;
    client.join("act:1").await;
    publisher.publish("act:1", "tick", json!(1)).await;
    let first = client.expect_event("tick").await;
    // The offset comes last, as a string, as Node's socket.io sends it.
    assert_eq!(first[0], 1);
    assert!(first[1].is_string(), "{first:?}");

    drop_and_miss(&proxy, &gateway, &mut client, &mut publisher, &[2, 3, 4]).await;
    let back = client.expect_type("connect").await;
    assert_eq!(back["recovered"], true, "{back}");
    let missed = ticks(&mut client, 3).await;
    let data: Vec<Value> = missed.iter().map(|args| args[0].clone()).collect();
    assert_eq!(data, [json!(2), json!(3), json!(4)]);

    // Back in the room: live events follow, none twice.
    publisher.publish("act:1", "tick", json!(5)).await;
    assert_eq!(client.expect_event("tick").await[0], 5);
    client.assert_no_event().await;
}

#[tokio::test]
async fn a_stock_client_recovers_missed_events_over_websocket() {
    recovers_on_one_node("websocket").await;
}

#[tokio::test]
async fn a_stock_client_recovers_missed_events_over_polling() {
    recovers_on_one_node("polling").await;
}

#[tokio::test]
async fn a_gap_too_old_to_replay_is_a_normal_connect_with_recovered_false() {
    let gateway = Gateway::with_config(&recovery_config(2)).await;
    let proxy = CutProxy::start(gateway.addr).await;
    let mut publisher = RawClient::connect(&gateway.ws_url("/ws")).await;
    let mut client = stock_client(&gateway, &proxy, "websocket").await;
    client.join("act:1").await;
    publisher.publish("act:1", "tick", json!(1)).await;
    client.expect_event("tick").await;

    // Five missed, two kept: never a silent gap.
    drop_and_miss(&proxy, &gateway, &mut client, &mut publisher, &[2, 3, 4, 5, 6]).await;
    let back = client.expect_type("connect").await;
    assert_eq!(back["recovered"], false, "{back}");
    client.assert_no_event().await;
}

#[tokio::test]
async fn a_stock_client_recovers_on_another_node() {
    let redis = RedisServer::start().await;
    let config = format!(
        "{}[cluster]\nredis_url = \"{}\"\nheartbeat = \"200ms\"\nnode_ttl = \"1s\"\ntimeout = \"10s\"\n",
        recovery_config(100),
        redis.url()
    );
    let a = Gateway::with_config(&config).await;
    let b = Gateway::with_config(&config).await;
    let proxy = CutProxy::start(a.addr).await;
    let mut publisher = RawClient::connect(&b.ws_url("/ws")).await;
    let mut client = stock_client(&a, &proxy, "websocket").await;
    client.join("act:1").await;
    publisher.publish("act:1", "tick", json!(1)).await;
    assert_eq!(client.expect_event("tick").await[0], 1);

    // The client's next connection lands on node b.
    proxy.retarget(b.addr);
    drop_and_miss(&proxy, &a, &mut client, &mut publisher, &[2, 3]).await;
    let back = client.expect_type("connect").await;
    assert_eq!(back["recovered"], true, "{back}");
    let data: Vec<Value> = ticks(&mut client, 2)
        .await
        .iter()
        .map(|args| args[0].clone())
        .collect();
    assert_eq!(data, [json!(2), json!(3)]);
    publisher.publish("act:1", "tick", json!(4)).await;
    assert_eq!(client.expect_event("tick").await[0], 4);
    client.assert_no_event().await;
}
