//! A rolling restart of a cluster node: SIGTERM on node A, whose clients
//! come back on node B with their resume tokens and lose nothing.

use std::time::Duration;

use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::cluster_recovery::node_config;
use crate::util::recovery::position_of;
use crate::util::redis::RedisServer;
use crate::util::{Gateway, RawClient, SioClient, SioOptions};

/// Raw clients on the restarted node: enough that the departed sessions
/// its goodbyes queue take the sender a while to write.
const RAW_CLIENTS: usize = 200;

/// socket.io clients on the restarted node (each is a Node process).
const SIO_CLIENTS: usize = 3;

/// The room every client is in.
const ROOM: &str = "act:roll";

/// Regression: the cluster sender outlived `leave_cluster` and nothing
/// waited for its queue, so the departed sessions queued by the shutdown's
/// own disconnects were lost when the process exited, and on the next node
/// the clients' resume tokens were unknown (`"session": false`). Now the
/// sender drains before the node leaves, and every client resumes.
#[tokio::test]
async fn every_client_of_a_node_stopped_with_sigterm_resumes_on_another_node() {
    let redis = RedisServer::start().await;
    let mut a = Gateway::with_config(&node_config(&redis)).await;
    let b = Gateway::with_config(&node_config(&redis)).await;
    let mut publisher = RawClient::connect(&b.ws_url("/ws")).await;

    let mut raws = Vec::with_capacity(RAW_CLIENTS);
    for _ in 0..RAW_CLIENTS {
        let mut client = RawClient::connect(&a.ws_url("/ws")).await;
        client.join(ROOM).await;
        raws.push(client);
    }
    let mut sios = Vec::with_capacity(SIO_CLIENTS);
    for _ in 0..SIO_CLIENTS {
        let mut client = SioClient::connect(&a).await;
        let token = client.expect_event("sockgate:session").await[0]["resume"].clone();
        client.join(ROOM).await;
        sios.push((client, token));
    }

    // Events published through B reach everyone on A.
    for n in 1..=2 {
        publisher.publish(ROOM, "tick", json!(n)).await;
    }
    let mut raw_positions = Vec::with_capacity(RAW_CLIENTS);
    for client in &mut raws {
        let mut last = Value::Null;
        for n in 1..=2 {
            let event = client.recv_event().await;
            assert_eq!(event["data"], n, "{event}");
            last = event;
        }
        raw_positions.push(position_of(&last));
    }
    let mut sio_positions = Vec::with_capacity(SIO_CLIENTS);
    for (client, _) in &mut sios {
        let mut last = Vec::new();
        for n in 1..=2 {
            last = client.expect_event("tick").await;
            assert_eq!(last[0], n);
        }
        sio_positions.push(json!({"epoch": last[1]["epoch"], "offset": last[1]["offset"]}));
    }

    // A is restarted: it tells everyone to go, and exits. The clients
    // answer their close frames at once, as live ones do, so A is soon done
    // with them; Redis stalls for a moment meanwhile (a latency spike, a
    // failover), so the departed sessions A queued are still waiting to be
    // written when it is done with its clients.
    let closing: Vec<_> = raws
        .into_iter()
        .map(|mut client| {
            tokio::spawn(async move {
                let token = client.open["resume"].as_str().expect("a resume token").to_owned();
                let frame = client.expect_close().await.expect("a close frame");
                assert_eq!(frame.code, CloseCode::Away, "{frame:?}");
                client.close().await;
                token
            })
        })
        .collect();
    redis.freeze(true);
    let stall = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        redis.freeze(false);
    };
    let (status, ()) = tokio::join!(a.terminate(), stall);
    assert!(status.success(), "{status:?}");
    let mut tokens = Vec::with_capacity(RAW_CLIENTS);
    for closed in closing {
        tokens.push(closed.await.expect("a raw client's close"));
    }
    for (client, _) in &mut sios {
        client.expect_type("disconnect").await;
    }
    // Published while they were away.
    for n in 3..=5 {
        publisher.publish(ROOM, "tick", json!(n)).await;
    }

    // Every client comes back on B, gets 3, 4, 5 once and in order, and
    // its old session (its rooms, under its token) is found.
    for (i, (token, position)) in tokens.into_iter().zip(raw_positions).enumerate() {
        let mut back = RawClient::connect(&b.ws_url("/ws")).await;
        let (ack, replayed) = back
            .request(json!({"op": "resume", "token": token, "rooms": {ROOM: position}}))
            .await;
        let data: Vec<Value> = replayed.iter().map(|e| e["data"].clone()).collect();
        assert_eq!(data, [json!(3), json!(4), json!(5)], "raw client {i}: {ack}");
        assert_eq!(
            ack["data"],
            json!({"session": true, "rooms": {ROOM: {"replayed": 3}}}),
            "raw client {i}: its session reached Redis before A left"
        );
        if i == 0 {
            back.assert_silent().await;
        }
    }
    for (i, ((_, token), position)) in sios.iter().zip(sio_positions).enumerate() {
        let mut back = SioClient::connect_with(
            &b,
            SioOptions {
                auth: Some(json!({"resume": {"token": token, "rooms": {ROOM: position}}})),
                ..SioOptions::default()
            },
        )
        .await;
        for n in 3..=5 {
            assert_eq!(back.expect_event("tick").await[0], n, "socket.io client {i}");
        }
        let resumed = back.expect_event("sockgate:resumed").await;
        assert_eq!(
            resumed[0],
            json!({"session": true, "rooms": {ROOM: {"replayed": 3}}}),
            "socket.io client {i}"
        );
        back.expect_event("sockgate:session").await;
        back.assert_no_event().await;
    }
}
