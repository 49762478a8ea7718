//! Several nodes over one Redis behave as one gateway: clients of both
//! protocols on different nodes, the API on any node, cluster-wide counts,
//! and the faults: Redis restarted, a node killed, Redis down at start.

use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde_json::{json, Value};

use crate::util::api::{api_config, API_KEY};
use crate::util::backend::Backend;
use crate::util::jwt::{claims, Keys};
use crate::util::redis::RedisServer;
use crate::util::{Gateway, RawClient, SioClient, SioOptions, WAIT};

fn node_config(redis: &RedisServer, extra: &str) -> String {
    format!(
        "{}{extra}\n[cluster]\nredis_url = \"{}\"\nheartbeat = \"200ms\"\nnode_ttl = \"1s\"\ntimeout = \"10s\"\n",
        api_config(),
        redis.url()
    )
}

/// Retries `check` until it returns true, within the usual wait.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    tokio::time::timeout(WAIT * 2, async {
        loop {
            if check().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("never happened: {what}"));
}

/// Publishes from `from` until `to` hears it: after a Redis restart, each
/// node resubscribes its rooms on its own time.
async fn until_heard(from: &mut RawClient, to: &mut RawClient, room: &str) {
    for attempt in 0..50 {
        from.publish(room, "probe", json!(attempt)).await;
        // Other events may arrive first: a publish Redis took late after an
        // outage is delivered, not lost.
        while let Ok(frame) = tokio::time::timeout(Duration::from_millis(200), to.recv()).await {
            if frame["event"] == "probe" {
                // Drain any other probes already on their way.
                to.recv_all_now().await;
                return;
            }
        }
    }
    panic!("{room}: the other node never heard");
}

#[tokio::test]
async fn clients_on_different_nodes_share_rooms_both_ways() {
    let redis = RedisServer::start().await;
    let a = Gateway::with_config(&node_config(&redis, "")).await;
    let b = Gateway::with_config(&node_config(&redis, "")).await;
    let mut raw_a = RawClient::connect(&a.ws_url("/ws")).await;
    let mut sio_b = SioClient::connect(&b).await;
    let mut raw_b = RawClient::connect(&b.ws_url("/ws")).await;
    raw_a.join("act42").await;
    sio_b.join("act42").await;
    raw_b.join("act42").await;

    raw_a.publish("act42", "chat", json!({"from": "A raw"})).await;
    assert_eq!(sio_b.expect_event("chat").await, [json!({"from": "A raw"})]);
    assert_eq!(raw_b.recv_event().await["data"], json!({"from": "A raw"}));

    sio_b
        .publish("act42", "chat", json!({"from": "B socket.io"}))
        .await;
    assert_eq!(raw_a.recv_event().await["data"], json!({"from": "B socket.io"}));
    // Regression: a null payload once read back as "no data" on the other
    // node, and the event was dropped there.
    raw_b.publish("act42", "nothing", Value::Null).await;
    assert_eq!(
        raw_a.recv_event().await,
        json!({"op": "event", "room": "act42", "event": "nothing", "data": null})
    );
    raw_a.assert_silent().await;
}

/// Regression: a join was acked before its node had subscribed to the
/// room's channel, so an event published on another node right after the
/// ack could miss the new member. Joins in bulk keep the node's
/// subscription work backlogged, which made that miss near certain.
#[tokio::test]
async fn an_acked_join_hears_what_another_node_publishes_next() {
    let redis = RedisServer::start().await;
    let limits =
        "[limits]\nmessages_per_second = 100000\nmessage_burst = 100000\nmax_rooms_per_connection = 2000\n";
    // B's backend answers the event `enter` by joining its sender to 100 rooms.
    let backend = Backend::start(|_path, _body| async move {
        let rooms: Vec<String> = (0..100).map(|i| format!("hook{i}")).collect();
        (200, json!({"ack": [true], "join": rooms}))
    })
    .await;
    let routed = format!(
        "{limits}[[webhooks.routes]]\nevents = [\"enter\"]\nurl = \"{}/events\"\n",
        backend.url
    );
    let a = Gateway::with_config(&node_config(&redis, limits)).await;
    let b = Gateway::with_config(&node_config(&redis, &routed)).await;
    let mut publisher = RawClient::connect(&a.ws_url("/ws")).await;
    let mut raw = RawClient::connect(&b.ws_url("/ws")).await;
    let mut sio = SioClient::connect(&b).await;

    // Raw: 300 joins sent at once; each ack on B is followed by a publish on A.
    const ROOMS: u64 = 300;
    for i in 0..ROOMS {
        raw.send(json!({"op": "join", "room": format!("bulk{i}"), "id": i}))
            .await;
    }
    let (mut acked, mut heard) = (0, std::collections::BTreeSet::new());
    while acked < ROOMS || (heard.len() as u64) < ROOMS {
        let Ok(frame) = tokio::time::timeout(Duration::from_secs(3), raw.recv()).await else {
            break;
        };
        match frame["op"].as_str() {
            Some("ack") => {
                assert_eq!(frame["ok"], true, "{frame}");
                acked += 1;
                let room = format!("bulk{}", frame["id"]);
                publisher.publish(&room, "first", json!(frame["id"])).await;
            }
            Some("event") => {
                heard.insert(frame["data"].as_u64().expect("the published id"));
            }
            _ => panic!("unexpected frame {frame}"),
        }
    }
    let missed: Vec<u64> = (0..ROOMS).filter(|i| !heard.contains(i)).collect();
    assert_eq!(
        (acked, missed),
        (ROOMS, vec![]),
        "acked joins that missed the next event"
    );

    // The API, and a webhook answer: 100 rooms joined at once are each heard
    // as soon as the answer (the ack) comes.
    let rooms: Vec<String> = (0..100).map(|i| format!("api{i}")).collect();
    let answer = b
        .api_post("/api/join", &json!({"sid": raw.sid, "rooms": rooms}))
        .await;
    assert_eq!(answer.body["result"]["connections"], 1, "{answer:?}");
    assert_heard_after(&mut publisher, &mut raw, &rooms, "joined through the API").await;
    let (ack, _) = raw.request(json!({"op": "emit", "event": "enter"})).await;
    assert_eq!(ack["ok"], true, "{ack}");
    let rooms: Vec<String> = (0..100).map(|i| format!("hook{i}")).collect();
    assert_heard_after(&mut publisher, &mut raw, &rooms, "joined by a webhook answer").await;

    // socket.io: the same, while a burst of raw joins keeps B busy subscribing.
    for i in 0..20 {
        for k in 0..40 {
            raw.send(json!({"op": "join", "room": format!("busy{i}-{k}")}))
                .await;
        }
        let room = format!("sio{i}");
        sio.join(&room).await;
        publisher.publish(&room, "first", json!(i)).await;
        assert_eq!(sio.expect_event("first").await, [json!(i)], "{room}");
    }
}

/// An authenticated connection starts in its user's room (and its token's
/// rooms): in a cluster it gets its open frame only once its node hears
/// them, so what a backend emits to the user through another node right
/// after the connection opened reaches it. (socket.io's CONNECT answer
/// waits the same way; see the hung-Redis test.)
#[tokio::test]
async fn a_new_connection_hears_its_user_room_from_any_node() {
    let redis = RedisServer::start().await;
    let keys = Keys::get();
    let limits = "[limits]\nconnects_per_second_per_ip = 0\nmax_connections_per_ip = 0\n";
    let a = Gateway::with_config(&node_config(&redis, "")).await;
    let b = Gateway::with_config(&node_config(&redis, &format!("{limits}{}", keys.config("")))).await;
    let (a, b) = (&a, &b);
    // 100 users connect to B at once; as soon as each is open, A emits to it.
    let clients = (0..100).map(|i| async move {
        let user = format!("u{i}");
        let token = keys.token(Algorithm::HS256, &claims(&user));
        let mut client = RawClient::connect(&b.ws_url(&format!("/ws?token={token}"))).await;
        let answer = a
            .api_post("/api/emit", &json!({"user": user, "event": "hello", "data": i}))
            .await;
        assert_eq!(answer.status, 200, "{answer:?}");
        match tokio::time::timeout(Duration::from_secs(3), client.recv()).await {
            Ok(frame) if frame["event"] == "hello" => None,
            Ok(frame) => panic!("{user}: unexpected {frame}"),
            Err(_) => Some(user),
        }
    });
    let missed: Vec<String> = futures_util::future::join_all(clients)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert!(
        missed.is_empty(),
        "users that missed an emit right after connecting: {missed:?}"
    );
}

/// Publishes once to each of `rooms` from `publisher` and asserts that `member`
/// hears every one.
pub(crate) async fn assert_heard_after(
    publisher: &mut RawClient,
    member: &mut RawClient,
    rooms: &[String],
    how: &str,
) {
    for room in rooms {
        publisher.publish(room, "first", json!(room)).await;
    }
    let mut heard = std::collections::BTreeSet::new();
    while heard.len() < rooms.len() {
        let Ok(frame) = tokio::time::timeout(Duration::from_secs(3), member.recv()).await else {
            break;
        };
        if frame["op"] == "event" && frame["event"] == "first" {
            heard.insert(frame["room"].as_str().unwrap_or_default().to_owned());
        }
    }
    let missed: Vec<&String> = rooms.iter().filter(|room| !heard.contains(*room)).collect();
    assert!(missed.is_empty(), "rooms {how} missed the next event: {missed:?}");
}

#[tokio::test]
async fn the_api_on_one_node_reaches_every_node_and_counts_cluster_wide() {
    let redis = RedisServer::start().await;
    let a = Gateway::with_config(&node_config(&redis, "")).await;
    let b = Gateway::with_config(&node_config(&redis, "")).await;
    let mut raw_a = RawClient::connect(&a.ws_url("/ws")).await;
    let mut sio_b = SioClient::connect(&b).await;
    raw_a.join("lobby").await;
    sio_b.join("lobby").await;

    eventually("both members counted from node A", || async {
        a.api_get("/api/rooms").await.body == json!({"result": {"rooms": [{"room": "lobby", "members": 2}]}})
    })
    .await;
    let members = a.api_get("/api/rooms/lobby").await.body["result"]["members"].clone();
    let mut expected = vec![raw_a.sid.clone(), sio_b.id.clone()];
    expected.sort();
    assert_eq!(members, json!(expected));
    let remote = a.api_get(&format!("/api/connections/{}", sio_b.id)).await.body["result"].clone();
    assert_eq!(remote["protocol"], "socket.io");
    assert_eq!(remote["rooms"], json!(["lobby"]));
    assert!(remote["node"].is_string(), "{remote}");

    // Room emits, sid emits and everyone, from the other node's API.
    let mut heard = false;
    for _ in 0..50 {
        a.api_post(
            "/api/emit",
            &json!({"room": "lobby", "event": "probe", "data": 0}),
        )
        .await;
        if sio_b.next_event_now().await.is_some() {
            heard = true;
            break;
        }
    }
    assert!(heard, "node B never heard A's emits to lobby");
    while sio_b.next_event_now().await.is_some() {}
    raw_a.recv_all_now().await;
    let response = b
        .api_post(
            "/api/emit",
            &json!({"room": "lobby", "event": "news", "data": "from B's API"}),
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(raw_a.recv_event().await["data"], "from B's API");
    assert_eq!(sio_b.expect_event("news").await, [json!("from B's API")]);

    let response = a
        .api_post(
            "/api/emit",
            &json!({"sid": sio_b.id, "event": "direct", "data": 1}),
        )
        .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(sio_b.expect_event("direct").await, [json!(1)]);
    a.api_post("/api/emit", &json!({"all": true, "event": "everyone", "data": 2}))
        .await;
    assert_eq!(raw_a.recv_event().await["event"], "everyone");
    assert_eq!(sio_b.expect_event("everyone").await, [json!(2)]);

    // Join and disconnect a connection that lives on the other node.
    let response = a
        .api_post("/api/join", &json!({"sid": sio_b.id, "room": "vip"}))
        .await;
    assert_eq!(response.status, 200);
    eventually("the remote join is visible", || async {
        a.api_get("/api/rooms/vip").await.status == 200
    })
    .await;
    let response = a.api_post("/api/disconnect", &json!({"sid": sio_b.id})).await;
    assert_eq!(response.status, 200);
    assert_eq!(
        sio_b.expect_type("disconnect").await["reason"],
        "io server disconnect"
    );
    let response = a
        .api_post("/api/emit", &json!({"sid": "AAAAAAAAAAAAAAAA", "event": "x"}))
        .await;
    assert_eq!(response.status, 404);
    let _ = API_KEY;
}

#[tokio::test]
async fn a_killed_node_drops_out_and_the_others_keep_serving() {
    let redis = RedisServer::start().await;
    let a = Gateway::with_config(&node_config(&redis, "")).await;
    let mut b = Gateway::with_config(&node_config(&redis, "")).await;
    let mut raw_a = RawClient::connect(&a.ws_url("/ws")).await;
    let mut other_a = RawClient::connect(&a.ws_url("/ws")).await;
    let mut raw_b = RawClient::connect(&b.ws_url("/ws")).await;
    raw_a.join("r").await;
    other_a.join("r").await;
    raw_b.join("r").await;
    eventually("three members", || async {
        a.api_get("/api/rooms").await.body["result"]["rooms"][0]["members"] == 3
    })
    .await;

    b.kill().await;
    eventually("B's member vanishes within node_ttl", || async {
        a.api_get("/api/rooms").await.body["result"]["rooms"][0]["members"] == 2
    })
    .await;
    other_a.publish("r", "still", json!("here")).await;
    assert_eq!(raw_a.recv_event().await["data"], "here");
    drop(raw_b);
}

#[tokio::test]
async fn a_redis_restart_keeps_local_delivery_and_heals_the_cluster() {
    let mut redis = RedisServer::start().await;
    let a = Gateway::with_config(&node_config(&redis, "")).await;
    let b = Gateway::with_config(&node_config(&redis, "")).await;
    let mut raw_a = RawClient::connect(&a.ws_url("/ws")).await;
    let mut other_a = RawClient::connect(&a.ws_url("/ws")).await;
    let mut raw_b = RawClient::connect(&b.ws_url("/ws")).await;
    raw_a.join("r").await;
    other_a.join("r").await;
    raw_b.join("r").await;

    redis.stop().await;
    // Local delivery goes on while Redis is gone; publishes are still acked.
    other_a.publish("r", "local", json!("during the outage")).await;
    assert_eq!(raw_a.recv_event().await["data"], "during the outage");

    // A node cut off from its cluster is not ready for new clients.
    eventually("readyz reports the lost Redis", || async {
        let probe = a.http_get("/readyz").await;
        probe.starts_with("HTTP/1.1 503") && probe.contains("cluster bus disconnected")
    })
    .await;
    // The cluster copy of that publish could not be sent, and is counted.
    eventually("the failed cluster send is counted", || async {
        let status = a.api_get("/api/cluster").await.body["result"].clone();
        status["clustered"] == true && status["status"]["send_failures"].as_u64().unwrap_or(0) >= 1
    })
    .await;

    // A room first joined while Redis is gone is acked at once, and heard
    // from other nodes once Redis is back.
    eventually("B notices the lost Redis too", || async {
        b.http_get("/readyz").await.starts_with("HTTP/1.1 503")
    })
    .await;
    raw_b.join("late").await;

    redis.restart().await;
    // Each node reconnects, resubscribes its rooms and rewrites its records.
    until_heard(&mut raw_b, &mut raw_a, "r").await;
    until_heard(&mut raw_a, &mut raw_b, "r").await;
    until_heard(&mut raw_a, &mut raw_b, "late").await;
    eventually("counts are back", || async {
        let rooms = a.api_get("/api/rooms").await.body["result"]["rooms"].clone();
        rooms.as_array().is_some_and(|rooms| {
            rooms.contains(&json!({"room": "r", "members": 3}))
                && rooms.contains(&json!({"room": "late", "members": 1}))
        })
    })
    .await;
    let status = a.api_get("/api/cluster").await.body["result"]["status"].clone();
    assert_eq!(status["connected"], true, "{status}");
    assert!(status["reconnects"].as_u64().unwrap() >= 1, "{status}");
}

/// A Redis that hangs (frozen: its connections stay open, nothing is
/// answered) holds a join to a room this node does not hear yet, a
/// socket.io CONNECT into its user's room and a resume's rooms for at most
/// `cluster.timeout` each: they all go through, and each wait is counted.
#[tokio::test]
async fn a_hung_redis_holds_joins_and_connects_for_at_most_the_cluster_timeout() {
    let redis = RedisServer::start().await;
    let keys = Keys::get();
    let config = format!(
        "{}{}\n[cluster]\nredis_url = \"{}\"\ntimeout = \"1s\"\n",
        api_config(),
        keys.config(""),
        redis.url()
    );
    let node = Gateway::with_config(&config).await;
    let mut raw = RawClient::connect(&node.ws_url("/ws")).await;
    raw.join("warm").await;

    redis.freeze(true);
    // Acked within the helper's own wait, though Redis never confirms.
    raw.join("cold").await;
    // A socket.io connection that starts in its user's room waits the same
    // way before its CONNECT is answered, and connects.
    let token = keys.token(Algorithm::HS256, &claims("frozen-user"));
    let options = SioOptions {
        auth: Some(json!({"token": token})),
        ..SioOptions::default()
    };
    let mut sio = SioClient::connect_with(&node, options).await;
    // A resume is acked once its rooms are heard: each of the two new
    // rooms is waited for (and counted), both together.
    let position = json!({"epoch": "e", "offset": 1});
    let (ack, _) = raw
        .request(json!({"op": "resume", "rooms": {"cold1": position, "cold2": position}}))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    let metrics = node.http_get("/metrics").await;
    redis.freeze(false);
    assert!(
        metrics.contains("sockgate_cluster_subscription_timeouts_total 4\n"),
        "each wait for subscriptions is counted once: {metrics}"
    );
    sio.join("warm").await;
    // A room already heard is acked at once, hung Redis or not.
    raw.join("warm").await;
}

#[tokio::test]
async fn redis_down_at_start_is_an_error_or_local_only_as_configured() {
    let mut redis = RedisServer::start().await;
    redis.stop().await;
    let output = tokio::process::Command::new(crate::util::gateway::binary())
        .args(["--listen", "127.0.0.1:0", "--config"])
        .arg(write_temp(
            &node_config(&redis, "").replace("timeout = \"10s\"", "timeout = \"1s\""),
        ))
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot reach Redis"), "{stderr}");

    let gateway = Gateway::with_config(
        &node_config(&redis, "")
            .replace("[cluster]\n", "[cluster]\nrequired = false\n")
            .replace("timeout = \"10s\"", "timeout = \"1s\""),
    )
    .await;
    let mut one = RawClient::connect(&gateway.ws_url("/ws")).await;
    let mut two = RawClient::connect(&gateway.ws_url("/ws")).await;
    one.join("r").await;
    two.publish("r", "e", json!("local-only")).await;
    assert_eq!(one.recv_event().await["data"], "local-only");
}

/// Regression: the broadcast channel was subscribed once at start, its
/// failure ignored (`let _ = subscriber.subscribe(…)`), and fred only
/// resubscribes what once succeeded: a node started while Redis was down
/// never heard another node's emits to its connections, even once Redis
/// was back. Now each reconnect subscribes what is missing.
#[tokio::test]
async fn a_node_started_without_redis_hears_broadcasts_once_redis_is_back() {
    let mut redis = RedisServer::start().await;
    redis.stop().await;
    let late = Gateway::with_config(
        &node_config(&redis, "")
            .replace("[cluster]\n", "[cluster]\nrequired = false\n")
            .replace("timeout = \"10s\"", "timeout = \"1s\""),
    )
    .await;
    let mut member = RawClient::connect(&late.ws_url("/ws")).await;
    redis.restart().await;
    let other = Gateway::with_config(&node_config(&redis, "")).await;
    // An emit to everyone travels on the broadcast channel.
    let mut heard = false;
    for attempt in 0..50 {
        let emitted = other
            .api_post(
                "/api/emit",
                &json!({"event": "probe", "data": attempt, "all": true}),
            )
            .await;
        assert_eq!(emitted.status, 200, "{emitted:?}");
        if let Ok(frame) = tokio::time::timeout(Duration::from_millis(300), member.recv()).await {
            assert_eq!(frame["event"], "probe", "{frame}");
            heard = true;
            break;
        }
    }
    assert!(
        heard,
        "the node that started without Redis never heard the broadcast channel"
    );
}

#[tokio::test]
async fn a_polling_request_on_the_wrong_node_fails_clearly() {
    let redis = RedisServer::start().await;
    let a = Gateway::with_config(&node_config(&redis, "")).await;
    let b = Gateway::with_config(&node_config(&redis, "")).await;
    let open = a.http_get("/socket.io/?EIO=4&transport=polling").await;
    let body = open.split("\r\n\r\n").nth(1).unwrap_or_default();
    let handshake: Value = serde_json::from_str(body.trim_start_matches('0')).expect("engine.io handshake");
    let sid = handshake["sid"].as_str().unwrap();
    let wrong = crate::subprotocol::reqwest_like::raw_http(
        &b,
        &format!(
            "GET /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            b.addr
        ),
    )
    .await;
    assert!(wrong.starts_with("HTTP/1.1 400"), "{wrong}");
    assert!(wrong.contains("Session ID unknown"), "{wrong}");
}

pub(crate) fn write_temp(contents: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("sockgate-e2e-cluster-{}.toml", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    path
}
