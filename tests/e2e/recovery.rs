//! Missed-message recovery (`rooms.recover`): clients of both protocols
//! go away while events are published, come back, and get exactly the
//! events they missed, in order, before live ones, or a clear gap.

use serde_json::{json, Value};

use crate::util::api::api_config;
use crate::util::recovery::{gone, position_of};
use crate::util::{Gateway, RawClient, SioClient, SioOptions};

fn recovery_config(history_size: usize) -> String {
    format!(
        "{}[rooms]\nrecover = [\"act:*\"]\nhistory_size = {history_size}\n",
        api_config()
    )
}

/// Publishes `data` from `publisher` to `act:1`, one event each.
async fn publish_all(publisher: &mut RawClient, data: &[i64]) {
    for n in data {
        publisher.publish("act:1", "tick", json!(n)).await;
    }
}

#[tokio::test]
async fn a_raw_client_comes_back_with_exactly_the_events_it_missed_in_order() {
    let gateway = Gateway::with_config(&recovery_config(100)).await;
    let mut publisher = RawClient::connect(&gateway.ws_url("/ws")).await;
    let mut away = RawClient::connect(&gateway.ws_url("/ws")).await;
    let token = away.open["resume"]
        .as_str()
        .expect("a resume token in open")
        .to_owned();
    away.join("act:1").await;
    // A room without recovery: its events carry no position.
    away.join("lobby").await;
    publish_all(&mut publisher, &[1]).await;
    let first = away.recv_event().await;
    assert_eq!(
        (first["data"].clone(), first["offset"].clone()),
        (json!(1), json!(1))
    );
    publisher.publish("lobby", "hello", json!("x")).await;
    assert_eq!(away.recv_event().await.get("offset"), None);
    let away_sid = away.sid.clone();
    away.close().await;
    gone(&gateway, &away_sid).await;

    publish_all(&mut publisher, &[2, 3, 4]).await;
    let mut back = RawClient::connect(&gateway.ws_url("/ws")).await;
    assert_ne!(back.open["resume"], json!(token), "a new connection, a new token");
    let (ack, replayed) = back
        .request(json!({"op": "resume", "token": token, "rooms": {"act:1": position_of(&first)}}))
        .await;
    let data: Vec<Value> = replayed.iter().map(|e| e["data"].clone()).collect();
    assert_eq!(data, [json!(2), json!(3), json!(4)], "{replayed:?}");
    let offsets: Vec<Value> = replayed.iter().map(|e| e["offset"].clone()).collect();
    assert_eq!(offsets, [json!(2), json!(3), json!(4)]);
    assert_eq!(
        ack["data"],
        json!({"session": true, "rooms": {"act:1": {"replayed": 3}, "lobby": {"replayed": 0}}})
    );

    // Both rooms are back, and live events follow without a duplicate.
    publish_all(&mut publisher, &[5]).await;
    let live = back.recv_event().await;
    assert_eq!(
        (live["data"].clone(), live["offset"].clone()),
        (json!(5), json!(5))
    );
    publisher.publish("lobby", "hello", json!("y")).await;
    assert_eq!(back.recv_event().await["data"], "y");
    back.assert_silent().await;

    // A token resumes once.
    let mut again = RawClient::connect(&gateway.ws_url("/ws")).await;
    let (ack, _) = again.request(json!({"op": "resume", "token": token})).await;
    assert_eq!(ack["data"], json!({"session": false, "rooms": {}}));

    // Operators see it: two rooms resumed, three events replayed.
    let metrics = gateway.http_get("/metrics").await;
    assert!(
        metrics.contains("sockgate_recovery_resumes_total{outcome=\"replayed\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sockgate_recovery_replayed_events_total 3"),
        "{metrics}"
    );
}

#[tokio::test]
async fn coming_back_before_the_old_link_died_takes_its_place() {
    let gateway = Gateway::with_config(&recovery_config(100)).await;
    let mut publisher = RawClient::connect(&gateway.ws_url("/ws")).await;
    // The old link looks alive to the gateway: nobody closed it.
    let mut stale = RawClient::connect(&gateway.ws_url("/ws")).await;
    let token = stale.open["resume"].as_str().unwrap().to_owned();
    stale.join("act:1").await;
    publish_all(&mut publisher, &[1]).await;
    let first = stale.recv_event().await;

    let mut back = RawClient::connect(&gateway.ws_url("/ws")).await;
    let (ack, _) = back
        .request(json!({"op": "resume", "token": token, "rooms": {"act:1": position_of(&first)}}))
        .await;
    assert_eq!(
        ack["data"],
        json!({"session": true, "rooms": {"act:1": {"replayed": 0}}})
    );
    let close = stale.expect_close().await.expect("a close frame");
    assert_eq!(u16::from(close.code), 4000);
    publish_all(&mut publisher, &[2]).await;
    assert_eq!(back.recv_event().await["data"], 2);
}

#[tokio::test]
async fn rooms_the_backend_added_come_back_with_the_session() {
    let gateway = Gateway::with_config(&recovery_config(100)).await;
    let mut publisher = RawClient::connect(&gateway.ws_url("/ws")).await;
    let away = RawClient::connect(&gateway.ws_url("/ws")).await;
    let token = away.open["resume"].as_str().unwrap().to_owned();
    let response = gateway
        .api_post("/api/join", &json!({"sid": away.sid, "rooms": ["act:vip"]}))
        .await;
    assert_eq!(response.status, 200);
    let away_sid = away.sid.clone();
    away.close().await;
    gone(&gateway, &away_sid).await;
    publisher.publish("act:vip", "tick", json!("missed")).await;

    let mut back = RawClient::connect(&gateway.ws_url("/ws")).await;
    // The client never got an event there, so it has no position: the
    // gateway replays from where the room stood when the client left.
    let (ack, replayed) = back.request(json!({"op": "resume", "token": token})).await;
    let data: Vec<Value> = replayed.iter().map(|e| e["data"].clone()).collect();
    assert_eq!(data, [json!("missed")]);
    assert_eq!(
        ack["data"],
        json!({"session": true, "rooms": {"act:vip": {"replayed": 1}}})
    );
    publisher.publish("act:vip", "tick", json!("live")).await;
    assert_eq!(back.recv_event().await["data"], "live");
}

#[tokio::test]
async fn a_gap_too_old_or_from_another_life_is_said_plainly() {
    let gateway = Gateway::with_config(&recovery_config(2)).await;
    let mut publisher = RawClient::connect(&gateway.ws_url("/ws")).await;
    let mut away = RawClient::connect(&gateway.ws_url("/ws")).await;
    away.join("act:1").await;
    publish_all(&mut publisher, &[1]).await;
    let first = away.recv_event().await;
    away.close().await;
    // Three missed events, two kept.
    publish_all(&mut publisher, &[2, 3, 4]).await;

    let mut back = RawClient::connect(&gateway.ws_url("/ws")).await;
    let (ack, replayed) = back
        .request(json!({"op": "resume", "rooms": {"act:1": position_of(&first)}}))
        .await;
    assert!(replayed.is_empty(), "nothing replayed across a gap: {replayed:?}");
    assert_eq!(ack["data"]["rooms"]["act:1"], json!({"gap": "too_old"}));
    let metrics = gateway.http_get("/metrics").await;
    assert!(
        metrics.contains("sockgate_recovery_resumes_total{outcome=\"too_old\"} 1"),
        "{metrics}"
    );
    // Still back in the room for what comes next.
    publish_all(&mut publisher, &[5]).await;
    assert_eq!(back.recv_event().await["data"], 5);

    // A position from another gateway process (another epoch).
    let other = Gateway::with_config(&recovery_config(2)).await;
    let mut elsewhere = RawClient::connect(&other.ws_url("/ws")).await;
    let (ack, _) = elsewhere
        .request(json!({"op": "resume", "rooms": {"act:1": position_of(&first), "lobby": {"epoch": "x", "offset": 1}}}))
        .await;
    assert_eq!(
        ack["data"]["rooms"],
        json!({"act:1": {"gap": "epoch_changed"}, "lobby": {"gap": "not_recoverable"}})
    );
    // Positions are checked like joins.
    let (ack, _) = elsewhere
        .request(json!({"op": "resume", "rooms": {"user:1": {"epoch": "x", "offset": 1}}}))
        .await;
    assert_eq!(ack["data"]["rooms"]["user:1"]["error"]["code"], "forbidden");
    let (ack, _) = elsewhere
        .request(json!({"op": "resume", "rooms": ["act:1"]}))
        .await;
    assert_eq!(ack["ok"], false);
    assert_eq!(ack["error"]["code"], "bad_request");
}

/// The arguments of the next `tick` event a socket.io peer printed.
async fn next_tick(client: &mut SioClient) -> Vec<Value> {
    client.expect_event("tick").await
}

#[tokio::test]
async fn a_socket_io_client_resumes_through_its_handshake_auth() {
    let gateway = Gateway::with_config(&recovery_config(100)).await;
    let mut publisher = RawClient::connect(&gateway.ws_url("/ws")).await;
    let mut away = SioClient::connect(&gateway).await;
    let session = away.expect_event("sockgate:session").await;
    let token = session[0]["resume"].as_str().expect("a resume token").to_owned();
    away.join("act:1").await;
    publish_all(&mut publisher, &[1]).await;
    // The position rides as a second argument; `(data) => …` never sees it.
    let first = next_tick(&mut away).await;
    assert_eq!(first[0], 1);
    assert_eq!(first[1]["room"], "act:1");
    assert_eq!(first[1]["offset"], 1);
    let position = json!({"epoch": first[1]["epoch"], "offset": first[1]["offset"]});
    away.disconnect().await;
    gone(&gateway, &away.id).await;

    publish_all(&mut publisher, &[2, 3]).await;
    let mut back = SioClient::connect_with(
        &gateway,
        SioOptions {
            auth: Some(json!({"resume": {"token": token, "rooms": {"act:1": position}}})),
            ..SioOptions::default()
        },
    )
    .await;
    assert_eq!(next_tick(&mut back).await[0], 2);
    assert_eq!(next_tick(&mut back).await[0], 3);
    let resumed = back.expect_event("sockgate:resumed").await;
    assert_eq!(
        resumed[0],
        json!({"session": true, "rooms": {"act:1": {"replayed": 2}}})
    );
    publish_all(&mut publisher, &[4]).await;
    let live = next_tick(&mut back).await;
    assert_eq!((live[0].clone(), live[1]["offset"].clone()), (json!(4), json!(4)));
    // The new connection has a token of its own for next time.
    let session = back.expect_event("sockgate:session").await;
    assert_ne!(session[0]["resume"], json!(token));
    back.assert_no_event().await;
}

#[tokio::test]
async fn events_with_several_arguments_keep_their_position_last_and_replay_whole() {
    let gateway = Gateway::with_config(&recovery_config(100)).await;
    let mut publisher = SioClient::connect(&gateway).await;
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    let raw_token = raw.open["resume"].as_str().unwrap().to_owned();
    let mut sio = SioClient::connect(&gateway).await;
    let sio_token = sio.expect_event("sockgate:session").await[0]["resume"].clone();
    raw.join("act:1").await;
    sio.join("act:1").await;

    publisher
        .publish_args("act:1", "move", json!([1, "2", {"three": 3}]))
        .await;
    // Raw: every argument in `args`, the position in its own fields.
    let live = raw.recv_event().await;
    assert_eq!(
        (&live["data"], &live["args"], &live["offset"]),
        (&json!(1), &json!([1, "2", {"three": 3}]), &json!(1)),
        "{live}"
    );
    // socket.io: the position comes after the last argument.
    let got = sio.expect_event("move").await;
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(got[..3], [json!(1), json!("2"), json!({"three": 3})]);
    assert_eq!(
        (&got[3]["room"], &got[3]["offset"], &got[3]["epoch"]),
        (&json!("act:1"), &json!(1), &live["epoch"])
    );

    // Both go away; an event with no argument and one with binary in its
    // second are missed; both come back and get each whole.
    let raw_sid = raw.sid.clone();
    raw.close().await;
    sio.disconnect().await;
    gone(&gateway, &raw_sid).await;
    gone(&gateway, &sio.id).await;
    publisher.publish_args("act:1", "move", json!([])).await;
    publisher
        .publish_args("act:1", "move", json!([4, {"$bytes": "AQID"}]))
        .await;

    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    let (ack, replayed) = raw
        .request(json!({"op": "resume", "token": raw_token, "rooms": {"act:1": position_of(&live)}}))
        .await;
    assert_eq!(ack["data"]["rooms"]["act:1"], json!({"replayed": 2}), "{ack}");
    let replayed: Vec<Value> = replayed
        .iter()
        .map(|e| json!([e["data"], e["args"], e["offset"]]))
        .collect();
    assert_eq!(
        replayed,
        [json!([null, [], 2]), json!([4, [4, {"$binary": "AQID"}], 3])]
    );

    let position = json!({"epoch": got[3]["epoch"], "offset": got[3]["offset"]});
    let mut sio = SioClient::connect_with(
        &gateway,
        SioOptions {
            auth: Some(json!({"resume": {"token": sio_token, "rooms": {"act:1": position}}})),
            ..SioOptions::default()
        },
    )
    .await;
    // With no argument, the position is the only one.
    let bare = sio.expect_event("move").await;
    assert_eq!((bare.len(), &bare[0]["offset"]), (1, &json!(2)), "{bare:?}");
    let binary = sio.expect_event("move").await;
    assert_eq!(binary[..2], [json!(4), json!({"$bytes": "AQID"})]);
    assert_eq!(binary[2]["offset"], 3, "{binary:?}");
    assert_eq!(
        sio.expect_event("sockgate:resumed").await[0]["rooms"],
        json!({"act:1": {"replayed": 2}})
    );
}

#[tokio::test]
async fn a_socket_io_2_client_resumes_with_the_resume_event() {
    let gateway = Gateway::with_config(&recovery_config(100)).await;
    let v2 = SioOptions {
        client: "v2",
        ..SioOptions::default()
    };
    let mut publisher = SioClient::connect(&gateway).await;
    let mut away = SioClient::connect_with(&gateway, v2.clone()).await;
    let token = away.expect_event("sockgate:session").await[0]["resume"].clone();
    away.join("act:1").await;
    publisher.publish("act:1", "tick", json!(1)).await;
    let first = next_tick(&mut away).await;
    let position = json!({"epoch": first[1]["epoch"], "offset": first[1]["offset"]});
    away.disconnect().await;
    gone(&gateway, &away.id).await;
    publisher.publish("act:1", "tick", json!(2)).await;

    let mut back = SioClient::connect_with(&gateway, v2).await;
    let ack = back
        .emit_with_ack("resume", json!([{"token": token, "rooms": {"act:1": position}}]))
        .await;
    assert_eq!(
        ack[0],
        json!({"ok": true, "session": true, "rooms": {"act:1": {"replayed": 1}}})
    );
    assert_eq!(next_tick(&mut back).await[0], 2);
}

#[tokio::test]
async fn a_replay_that_would_fill_the_queue_is_a_gap_not_a_slow_consumer() {
    // Regression: a resume replayed more events than the outbound queue
    // holds and closed its own client with 1008 before it read any.
    let config = format!("{}[limits]\noutbound_queue = 8\n", recovery_config(100));
    let gateway = Gateway::with_config(&config).await;
    let mut publisher = RawClient::connect(&gateway.ws_url("/ws")).await;
    let mut away = RawClient::connect(&gateway.ws_url("/ws")).await;
    away.join("act:1").await;
    publish_all(&mut publisher, &[0]).await;
    let first = away.recv_event().await;
    let away_sid = away.sid.clone();
    away.close().await;
    gone(&gateway, &away_sid).await;
    publish_all(&mut publisher, &(1..=30).collect::<Vec<_>>()).await;

    let mut back = RawClient::connect(&gateway.ws_url("/ws")).await;
    let (ack, replayed) = back
        .request(json!({"op": "resume", "rooms": {"act:1": position_of(&first)}}))
        .await;
    assert!(replayed.is_empty(), "{replayed:?}");
    assert_eq!(ack["data"]["rooms"]["act:1"], json!({"gap": "too_old"}));
    publish_all(&mut publisher, &[31]).await;
    assert_eq!(
        back.recv_event().await["data"],
        31,
        "still connected, still in the room"
    );
}

#[tokio::test]
async fn a_connection_the_backend_disconnected_cannot_be_resumed() {
    let gateway = Gateway::with_config(&recovery_config(100)).await;
    let mut kicked = RawClient::connect(&gateway.ws_url("/ws")).await;
    let token = kicked.open["resume"].as_str().unwrap().to_owned();
    kicked.join("act:1").await;
    let response = gateway
        .api_post("/api/disconnect", &json!({"sid": kicked.sid}))
        .await;
    assert_eq!(response.status, 200);
    let close = kicked.expect_close().await.expect("a close frame");
    assert_eq!(u16::from(close.code), 4000);
    gone(&gateway, &kicked.sid).await;

    let mut back = RawClient::connect(&gateway.ws_url("/ws")).await;
    let (ack, _) = back.request(json!({"op": "resume", "token": token})).await;
    assert_eq!(ack["data"], json!({"session": false, "rooms": {}}));
}

/// Emits `once` through `api` to two rooms with history (`act:*`) and two
/// without, then `after` to a plain room, and checks that each member on
/// `members` — raw and socket.io, in both kinds of room — got `once`
/// exactly once, numbered in the first history room it is in.
pub(crate) async fn an_emit_to_several_rooms_arrives_once(api: &Gateway, members: &Gateway) {
    let mut raw = RawClient::connect(&members.ws_url("/ws")).await;
    let mut sio = SioClient::connect(members).await;
    sio.expect_event("sockgate:session").await;
    for room in ["act:1", "plain1", "act:2"] {
        raw.join(room).await;
        sio.join(room).await;
    }
    let mut plain_only = RawClient::connect(&members.ws_url("/ws")).await;
    plain_only.join("plain1").await;
    plain_only.join("plain2").await;
    let rooms = ["plain1", "act:1", "act:2", "plain2"];
    let response = api
        .api_post("/api/emit", &json!({"rooms": rooms, "event": "once", "data": 1}))
        .await;
    assert_eq!(response.status, 200, "{response:?}");
    let response = api
        .api_post(
            "/api/emit",
            &json!({"room": "plain1", "event": "after", "data": 2}),
        )
        .await;
    assert_eq!(response.status, 200, "{response:?}");

    for (client, numbered_in) in [(&mut raw, Some("act:1")), (&mut plain_only, None)] {
        let once = client.recv_event().await;
        assert_eq!(once["event"], "once", "{once}");
        match numbered_in {
            Some(room) => assert_eq!(
                (&once["room"], &once["offset"]),
                (&json!(room), &json!(1)),
                "{once}"
            ),
            None => assert_eq!(once.get("offset"), None, "{once}"),
        }
        assert_eq!(client.recv_event().await["event"], "after");
        client.assert_silent().await;
    }
    let once = sio.expect_event("once").await;
    assert_eq!(once[0], json!(1));
    assert_eq!(once[1]["offset"], 1, "numbered in act:1: {once:?}");
    assert_eq!(sio.expect_event("after").await, [json!(2)]);
    sio.assert_no_event().await;
}

/// Regression: with history rooms among them, an emit to several rooms
/// reached a member of a history room and a plain room twice (measured:
/// socket.io 2, raw 2), though the API promises once.
#[tokio::test]
async fn an_emit_to_history_and_plain_rooms_reaches_each_client_once() {
    let gateway = Gateway::with_config(&recovery_config(100)).await;
    an_emit_to_several_rooms_arrives_once(&gateway, &gateway).await;
}
