//! Missed-message recovery across a cluster: a client that drops on one
//! node and comes back on another gets exactly what it missed, because
//! Redis numbers and keeps the recoverable rooms' events.

use serde_json::{json, Value};

use crate::cluster::assert_heard_after;
use crate::util::api::api_config;
use crate::util::recovery::{gone, position_of};
use crate::util::redis::RedisServer;
use crate::util::{Gateway, RawClient, SioClient, SioOptions, WAIT};

/// A node with the API, recovery for `act:*` rooms, and the cluster on `redis`.
pub(crate) fn node_config(redis: &RedisServer) -> String {
    format!(
        "{}[rooms]\nrecover = [\"act:*\"]\nhistory_size = 100\n\
         [cluster]\nredis_url = \"{}\"\nheartbeat = \"200ms\"\nnode_ttl = \"1s\"\ntimeout = \"10s\"\n",
        api_config(),
        redis.url()
    )
}

/// The next event frame, skipping anything else.
pub(crate) async fn next_event(client: &mut RawClient) -> Value {
    loop {
        let frame = client.recv().await;
        if frame["op"] == "event" {
            return frame;
        }
    }
}

#[tokio::test]
async fn a_raw_client_that_drops_on_one_node_resumes_on_another() {
    let redis = RedisServer::start().await;
    let a = Gateway::with_config(&node_config(&redis)).await;
    let b = Gateway::with_config(&node_config(&redis)).await;
    let mut publisher = RawClient::connect(&b.ws_url("/ws")).await;
    let mut away = RawClient::connect(&a.ws_url("/ws")).await;
    let token = away.open["resume"].as_str().unwrap().to_owned();
    away.join("act:1").await;
    // Numbered by Redis: the first event of the room is offset 1, on any node.
    let first = tokio::time::timeout(WAIT, async {
        loop {
            publisher.publish("act:1", "tick", json!(0)).await;
            if let Ok(frame) = tokio::time::timeout(std::time::Duration::from_millis(300), away.recv()).await
            {
                break frame;
            }
        }
    })
    .await
    .expect("the member on the other node never heard a publish");
    assert_eq!(first["op"], "event");
    let away_sid = away.sid.clone();
    away.close().await;
    gone(&a, &away_sid).await;
    for n in 1..=3 {
        publisher.publish("act:1", "tick", json!(n)).await;
    }

    // Back on the other node, which never had a member in the room.
    let mut back = RawClient::connect(&b.ws_url("/ws")).await;
    let (ack, replayed) = back
        .request(json!({"op": "resume", "token": token, "rooms": {"act:1": position_of(&first)}}))
        .await;
    // Probes the other node heard late are missed events too: they come
    // first, then 1, 2, 3, every offset once and in order.
    let data: Vec<Value> = replayed.iter().map(|e| e["data"].clone()).collect();
    assert_eq!(data[data.len() - 3..], [json!(1), json!(2), json!(3)], "{ack}");
    assert!(data[..data.len() - 3].iter().all(|d| *d == json!(0)), "{data:?}");
    assert_eq!(ack["data"]["session"], true, "the token works on any node: {ack}");
    assert_eq!(ack["data"]["rooms"]["act:1"], json!({"replayed": data.len()}));
    let offsets: Vec<u64> = replayed.iter().map(|e| e["offset"].as_u64().unwrap()).collect();
    let start = first["offset"].as_u64().unwrap();
    assert_eq!(
        offsets,
        (start + 1..=start + data.len() as u64).collect::<Vec<_>>()
    );
    let start = start + data.len() as u64 - 3;

    // Live events follow, numbered on, from a publisher on either node.
    publisher.publish("act:1", "tick", json!(4)).await;
    let live = next_event(&mut back).await;
    assert_eq!(
        (live["data"].clone(), live["offset"].as_u64()),
        (json!(4), Some(start + 4))
    );
    let mut other = RawClient::connect(&a.ws_url("/ws")).await;
    other.publish("act:1", "tick", json!(5)).await;
    assert_eq!(next_event(&mut back).await["offset"].as_u64(), Some(start + 5));
    back.assert_silent().await;
}

#[tokio::test]
async fn after_redis_loses_its_data_the_epoch_changes() {
    let redis = RedisServer::start().await;
    let a = Gateway::with_config(&node_config(&redis)).await;
    let b = Gateway::with_config(&node_config(&redis)).await;
    let mut publisher = RawClient::connect(&a.ws_url("/ws")).await;
    let mut member = RawClient::connect(&a.ws_url("/ws")).await;
    member.join("act:2").await;
    publisher.publish("act:2", "tick", json!(1)).await;
    let before = next_event(&mut member).await;

    // Redis restarts empty (it keeps nothing on disk here).
    let flushed = tokio::process::Command::new("redis-cli")
        .args(["-u", &redis.url(), "FLUSHALL"])
        .output()
        .await
        .expect("redis-cli");
    assert!(flushed.status.success());
    publisher.publish("act:2", "tick", json!(2)).await;
    let after = next_event(&mut member).await;
    assert_ne!(
        after["epoch"], before["epoch"],
        "a new life of the room's history"
    );

    let mut elsewhere = RawClient::connect(&b.ws_url("/ws")).await;
    let (ack, replayed) = elsewhere
        .request(json!({"op": "resume", "rooms": {"act:2": position_of(&before)}}))
        .await;
    assert!(replayed.iter().all(|f| f["op"] != "event"), "{replayed:?}");
    assert_eq!(ack["data"]["rooms"]["act:2"], json!({"gap": "epoch_changed"}));
}

#[tokio::test]
async fn a_socket_io_client_resumes_on_another_node() {
    let redis = RedisServer::start().await;
    let a = Gateway::with_config(&node_config(&redis)).await;
    let b = Gateway::with_config(&node_config(&redis)).await;
    let mut publisher = RawClient::connect(&a.ws_url("/ws")).await;
    let mut away = SioClient::connect(&a).await;
    let token = away.expect_event("sockgate:session").await[0]["resume"].clone();
    away.join("act:3").await;
    publisher.publish("act:3", "tick", json!(1)).await;
    let first = away.expect_event("tick").await;
    let position = json!({"epoch": first[1]["epoch"], "offset": first[1]["offset"]});
    away.disconnect().await;
    gone(&a, &away.id).await;
    publisher.publish("act:3", "tick", json!(2)).await;
    publisher.publish("act:3", "tick", json!(3)).await;

    let mut back = SioClient::connect_with(
        &b,
        SioOptions {
            auth: Some(json!({"resume": {"token": token, "rooms": {"act:3": position}}})),
            ..SioOptions::default()
        },
    )
    .await;
    assert_eq!(back.expect_event("tick").await[0], 2);
    assert_eq!(back.expect_event("tick").await[0], 3);
    let resumed = back.expect_event("sockgate:resumed").await;
    assert_eq!(
        resumed[0],
        json!({"session": true, "rooms": {"act:3": {"replayed": 2}}})
    );
}

#[tokio::test]
async fn a_member_hears_a_publish_on_its_own_node_right_after_joining() {
    // Numbered events reach a node through its room subscription, which
    // follows a join a moment later; a publish from the same node must not
    // fall into that moment.
    let redis = RedisServer::start().await;
    let a = Gateway::with_config(&node_config(&redis)).await;
    let mut publisher = RawClient::connect(&a.ws_url("/ws")).await;
    for room in ["act:10", "act:11", "act:12"] {
        let mut member = RawClient::connect(&a.ws_url("/ws")).await;
        member.join(room).await;
        publisher.publish(room, "tick", json!(room)).await;
        let event = next_event(&mut member).await;
        assert_eq!(
            (event["data"].clone(), event["offset"].clone()),
            (json!(room), json!(1))
        );
    }
}

#[tokio::test]
async fn a_node_backends_emits_reach_recoverable_rooms_live_without_breaking_the_numbering() {
    // Every node receives a @socket.io/redis-emitter message on its own, so
    // no one numbering covers it: it is delivered live, without a position,
    // and the room's numbering goes on undisturbed.
    let redis = RedisServer::start().await;
    let a = Gateway::with_config(&node_config(&redis)).await;
    let mut publisher = RawClient::connect(&a.ws_url("/ws")).await;
    let mut member = RawClient::connect(&a.ws_url("/ws")).await;
    member.join("act:20").await;
    publisher.publish("act:20", "tick", json!(1)).await;
    let first = next_event(&mut member).await;
    crate::emitter::emitter(
        &redis,
        json!({"op": "emit", "event": "notice", "args": ["from Node"], "rooms": ["act:20"]}),
    )
    .await;
    let notice = next_event(&mut member).await;
    assert_eq!(
        (notice["event"].clone(), notice.get("offset")),
        (json!("notice"), None)
    );
    publisher.publish("act:20", "tick", json!(2)).await;
    let second = next_event(&mut member).await;
    assert_eq!(second["epoch"], first["epoch"]);
    assert_eq!(second["offset"].as_u64(), first["offset"].as_u64().map(|o| o + 1));
}

/// A resume on another node takes back rooms without a history too (a
/// hundred of them here), and each hears what is published next on the
/// old node. (That the ack waits for them to be heard is checked with a
/// frozen Redis in `cluster::a_hung_redis_…`.)
#[tokio::test]
async fn rooms_taken_back_on_another_node_hear_the_next_event() {
    let redis = RedisServer::start().await;
    let config = format!(
        "[limits]\nmax_rooms_per_connection = 200\nmessages_per_second = 100000\nmessage_burst = 100000\n{}",
        node_config(&redis)
    );
    let a = Gateway::with_config(&config).await;
    let b = Gateway::with_config(&config).await;
    let mut publisher = RawClient::connect(&a.ws_url("/ws")).await;
    let mut away = RawClient::connect(&a.ws_url("/ws")).await;
    let token = away.open["resume"].as_str().unwrap().to_owned();
    let rooms: Vec<String> = (0..100).map(|i| format!("plain{i}")).collect();
    for room in &rooms {
        away.join(room).await;
    }
    let away_sid = away.sid.clone();
    away.close().await;
    gone(&a, &away_sid).await;

    let mut back = RawClient::connect(&b.ws_url("/ws")).await;
    let (ack, _) = back
        .request(json!({"op": "resume", "token": token, "rooms": {}}))
        .await;
    assert_eq!(ack["data"]["session"], true, "{ack}");
    assert_heard_after(&mut publisher, &mut back, &rooms, "taken back by a resume").await;
}

/// Regression: across nodes, an emit to history and plain rooms reached a
/// member of both twice — the numbered copy from Redis and the plain copy
/// on the room's channel. Each copy now names the rooms whose copies come
/// before it, and every node leaves their members out.
#[tokio::test]
async fn an_emit_to_history_and_plain_rooms_reaches_each_client_once_on_another_node() {
    let redis = RedisServer::start().await;
    let a = Gateway::with_config(&node_config(&redis)).await;
    let b = Gateway::with_config(&node_config(&redis)).await;
    crate::recovery::an_emit_to_several_rooms_arrives_once(&a, &b).await;
}

/// Events with several arguments cross nodes whole, through Redis's
/// numbering (a recoverable room) and plain (another room), binary
/// included, and a resume on another node replays them whole.
#[tokio::test]
async fn events_with_several_arguments_cross_nodes_whole_and_resume_whole_on_another() {
    let redis = RedisServer::start().await;
    let a = Gateway::with_config(&node_config(&redis)).await;
    let b = Gateway::with_config(&node_config(&redis)).await;
    let mut prober = RawClient::connect(&b.ws_url("/ws")).await;
    let mut raw = RawClient::connect(&a.ws_url("/ws")).await;
    let token = raw.open["resume"].as_str().unwrap().to_owned();
    let mut sio = SioClient::connect(&a).await;
    let _session = sio.expect_event("sockgate:session").await;
    let rooms = ["act:9".to_owned(), "plain9".to_owned()];
    for room in &rooms {
        raw.join(room).await;
        sio.join(room).await;
    }
    // Node b hears both rooms of node a before the test publishes.
    assert_heard_after(&mut prober, &mut raw, &rooms, "on the other node").await;
    let mut publisher = SioClient::connect(&b).await;
    let three = json!([1, "2", {"three": 3}]);
    let binary = json!([4, {"$bytes": "AQID"}]);
    publisher.publish_args("act:9", "move", three.clone()).await;
    publisher.publish_args("plain9", "move", binary).await;

    let mut got = Vec::new();
    while got.len() < 2 {
        let frame = next_event(&mut raw).await;
        if frame["event"] == "move" {
            got.push(frame);
        }
    }
    assert_eq!(
        (&got[0]["room"], &got[0]["data"], &got[0]["args"]),
        (&json!("act:9"), &json!(1), &three),
        "numbered by Redis, every argument kept: {}",
        got[0]
    );
    assert!(got[0]["offset"].is_u64(), "{}", got[0]);
    assert_eq!(
        (&got[1]["room"], &got[1]["data"], &got[1]["args"]),
        (&json!("plain9"), &json!(4), &json!([4, {"$binary": "AQID"}])),
        "plain, binary kept: {}",
        got[1]
    );
    let numbered = sio.expect_event("move").await;
    assert_eq!(numbered[..3], [json!(1), json!("2"), json!({"three": 3})]);
    assert_eq!(numbered[3]["offset"], got[0]["offset"], "{numbered:?}");
    let plain = sio.expect_event("move").await;
    assert_eq!(plain[0], json!(4));
    assert_eq!(
        plain[1],
        json!({"$bytes": "AQID"}),
        "a Buffer on the socket.io side: {plain:?}"
    );
    assert_eq!(plain.len(), 2, "{plain:?}");

    // The raw client drops; two more with several arguments are missed;
    // it comes back on node b and gets each whole.
    let raw_sid = raw.sid.clone();
    raw.close().await;
    gone(&a, &raw_sid).await;
    publisher.publish_args("act:9", "move", json!([])).await;
    publisher.publish_args("act:9", "move", json!([5, 6])).await;
    let mut back = RawClient::connect(&b.ws_url("/ws")).await;
    let (ack, replayed) = back
        .request(json!({"op": "resume", "token": token, "rooms": {"act:9": position_of(&got[0])}}))
        .await;
    assert_eq!(ack["data"]["rooms"]["act:9"], json!({"replayed": 2}), "{ack}");
    let replayed: Vec<Value> = replayed.iter().map(|e| json!([e["data"], e["args"]])).collect();
    assert_eq!(replayed, [json!([null, []]), json!([5, [5, 6]])]);
}

/// Regression test, found by the soak (`bench/soak.sh`): a node whose last
/// member of a room left stops hearing the room but keeps its copy of the
/// room's history. A client coming back there with the position of the
/// copy's last event was served from that copy, which ended where the node
/// stopped hearing, and got nothing of what other nodes published
/// meanwhile; the resume must read the gap from Redis instead.
#[tokio::test]
async fn a_resume_on_a_node_that_stopped_hearing_the_room_replays_what_was_published_since() {
    let redis = RedisServer::start().await;
    let a = Gateway::with_config(&node_config(&redis)).await;
    let b = Gateway::with_config(&node_config(&redis)).await;
    let mut publisher = RawClient::connect(&a.ws_url("/ws")).await;
    let mut away = RawClient::connect(&b.ws_url("/ws")).await;
    let token = away.open["resume"].as_str().unwrap().to_owned();
    // The join's ack comes once b hears the room: the publish reaches it.
    away.join("act:9").await;
    publisher.publish("act:9", "tick", json!(0)).await;
    let first = next_event(&mut away).await;
    let away_sid = away.sid.clone();
    away.close().await;
    gone(&b, &away_sid).await;
    // b had no other member there: it stops hearing the room.
    redis_until(&redis, &["PUBSUB", "NUMSUB", "sockgate#room#act:9"], |out| {
        out.ends_with("\n0")
    })
    .await;
    publisher.publish("act:9", "tick", json!(1)).await;
    publisher.publish("act:9", "tick", json!(2)).await;
    let numbered = (first["offset"].as_u64().unwrap() + 2).to_string();
    redis_until(&redis, &["GET", "sockgate:history:act:9:offset"], |out| {
        out == numbered
    })
    .await;

    // Back on the same node, from the last event it got there.
    let mut back = RawClient::connect(&b.ws_url("/ws")).await;
    let (ack, replayed) = back
        .request(json!({"op": "resume", "token": token, "rooms": {"act:9": position_of(&first)}}))
        .await;
    let data: Vec<Value> = replayed.iter().map(|e| e["data"].clone()).collect();
    assert_eq!(data, [json!(1), json!(2)], "{ack}");
    assert_eq!(ack["data"]["rooms"]["act:9"], json!({"replayed": 2}), "{ack}");
}

/// Runs `redis-cli` on `redis` until its output passes `done` (bounded by WAIT).
async fn redis_until(redis: &RedisServer, args: &[&str], done: impl Fn(&str) -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let output = tokio::process::Command::new("redis-cli")
            .args(["-u", &redis.url()])
            .args(args)
            .output()
            .await
            .expect("redis-cli");
        let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if done(&text) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "redis-cli {args:?} said {text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
