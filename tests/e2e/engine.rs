//! sockgate's own engine.io server, alone, through
//! `diagnostics.engineio_echo_path` (an engine that echoes every message):
//! the official `engine.io-client` v6 on each transport, and raw HTTP and
//! WebSocket requests for each rule of the protocol that the official
//! engine.io-protocol suite checks (see `docs/security.md`).

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio_tungstenite::tungstenite::Message;

use crate::util::sio::js_dir;
use crate::util::{Gateway, QUIET, WAIT};

const PATH: &str = "/engine.io/";

/// A gateway serving the engine echo on [`PATH`], with `extra` settings.
async fn echo_gateway(extra: &str) -> Gateway {
    Gateway::with_config(&format!(
        "[diagnostics]\nengineio_echo_path = \"{PATH}\"\n{extra}"
    ))
    .await
}

/// A gateway whose heartbeat is quick: 600 ms interval, 400 ms timeout.
async fn quick_heartbeat() -> Gateway {
    echo_gateway("[socketio]\nping_interval = \"600ms\"\nping_timeout = \"400ms\"\n").await
}

/// An HTTP answer.
struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The engine.io error code of a 400/403 answer.
    fn code(&self) -> Option<u64> {
        serde_json::from_slice::<Value>(&self.body).ok()?["code"].as_u64()
    }
}

/// One request on a fresh connection (`Connection: close`), read to its end.
async fn http(addr: SocketAddr, method: &str, query: &str, body: &[u8], headers: &str) -> Answer {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "{method} {PATH}?{query} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n{headers}\r\n",
        addr,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.write_all(body).await.expect("write body");
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut answer))
        .await
        .expect("no answer in time")
        .expect("read answer");
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP head");
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    Answer {
        status,
        head,
        body: answer[split + 4..].to_vec(),
    }
}

async fn get(addr: SocketAddr, query: &str) -> Answer {
    http(addr, "GET", query, b"", "").await
}

async fn post(addr: SocketAddr, query: &str, body: &[u8]) -> Answer {
    http(
        addr,
        "POST",
        query,
        body,
        "Content-Type: text/plain;charset=UTF-8\r\n",
    )
    .await
}

/// Opens a polling session: its sid and open packet.
async fn handshake(gateway: &Gateway, eio: u8) -> (String, Value) {
    let answer = get(gateway.addr, &format!("EIO={eio}&transport=polling")).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let text = answer.text();
    // v3 string framing puts the length first: "NN:0{…}".
    let packet = match eio {
        3 => text.split_once(':').expect("v3 string framing").1,
        _ => &text,
    };
    let open: Value = serde_json::from_str(&packet[1..]).expect("open packet JSON");
    (open["sid"].as_str().expect("sid").to_owned(), open)
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn websocket(gateway: &Gateway, query: &str) -> Ws {
    let url = gateway.ws_url(&format!("{PATH}?{query}"));
    let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
        .await
        .expect("websocket connect timed out")
        .expect("websocket connect failed");
    ws
}

/// The next text or binary message, skipping control frames.
async fn next(ws: &mut Ws) -> Option<Message> {
    tokio::time::timeout(WAIT, async {
        loop {
            match ws.next().await {
                Some(Ok(message @ (Message::Text(_) | Message::Binary(_) | Message::Close(_)))) => {
                    return Some(message)
                }
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    })
    .await
    .expect("nothing from the websocket in time")
}

async fn next_text(ws: &mut Ws) -> String {
    match next(ws).await {
        Some(Message::Text(text)) => text.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

async fn send(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text)).await.expect("send");
}

/// The official engine.io-client v6, run by Node (`tests/js/eio-peer.js`).
async fn engine_io_client(gateway: &Gateway, transports: &str) -> Vec<Value> {
    let mut child = Command::new("node")
        .current_dir(js_dir())
        .arg("eio-peer.js")
        .args([
            "--url",
            &gateway.http_url(),
            "--path",
            PATH,
            "--transports",
            transports,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn node (tests/js set up with npm ci?)");
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let mut read_until = async |seen: &mut Vec<Value>, what: &dyn Fn(&Value) -> bool| {
        tokio::time::timeout(WAIT, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                let value: Value = serde_json::from_str(&line).unwrap();
                let done = what(&value);
                seen.push(value);
                if done {
                    return;
                }
            }
            panic!("engine.io-client exited early: {seen:?}");
        })
        .await
        .unwrap_or_else(|_| panic!("engine.io-client did not get there: {seen:?}"));
    };
    read_until(&mut seen, &|v| v["type"] == "open").await;
    if transports.contains(',') {
        read_until(&mut seen, &|v| v["type"] == "upgrade").await;
    }
    for command in [json!({"send": "héllo"}), json!({"sendBinary": [0, 1, 2, 255]})] {
        stdin.write_all(format!("{command}\n").as_bytes()).await.unwrap();
        read_until(&mut seen, &|v| v["type"] == "message").await;
    }
    stdin.write_all(b"{\"close\":true}\n").await.unwrap();
    read_until(&mut seen, &|v| v["type"] == "close").await;
    seen
}

#[tokio::test]
async fn the_official_engine_io_client_gets_its_messages_back_on_every_transport() {
    let gateway = echo_gateway("").await;
    for (transports, transport) in [
        ("polling", "polling"),
        ("websocket", "websocket"),
        ("polling,websocket", "websocket"),
    ] {
        let seen = engine_io_client(&gateway, transports).await;
        let messages: Vec<&Value> = seen.iter().filter(|v| v["type"] == "message").collect();
        assert_eq!(messages.len(), 2, "{transports}: {seen:?}");
        assert_eq!(messages[0]["text"], "héllo", "{transports}");
        assert_eq!(messages[1]["binary"], json!([0, 1, 2, 255]), "{transports}");
        if transports.contains(',') {
            let upgrade = seen.iter().find(|v| v["type"] == "upgrade").unwrap();
            assert_eq!(upgrade["transport"], transport);
        }
        let close = seen.last().unwrap();
        assert_eq!(close["reason"], "forced close", "{transports}: {seen:?}");
    }
}

#[tokio::test]
async fn the_open_packet_carries_nodes_fields() {
    let gateway = echo_gateway("[socketio]\nmax_payload = 1000000\n").await;
    let (sid, open) = handshake(&gateway, 4).await;
    assert_eq!(sid.len(), 16);
    let mut keys: Vec<&str> = open.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"]
    );
    assert_eq!(open["upgrades"], json!(["websocket"]));
    assert_eq!(
        (open["pingInterval"].as_u64(), open["pingTimeout"].as_u64()),
        (Some(25000), Some(20000))
    );
    assert_eq!(open["maxPayload"], 1_000_000);

    // v3 has no maxPayload; a session opened on websocket has no upgrade.
    let (_, open) = handshake(&gateway, 3).await;
    assert!(open.get("maxPayload").is_none(), "{open}");
    let mut ws = websocket(&gateway, "EIO=4&transport=websocket").await;
    let open: Value = serde_json::from_str(&next_text(&mut ws).await[1..]).unwrap();
    assert_eq!(open["upgrades"], json!([]));
    assert_eq!(open["maxPayload"], 1_000_000);
}

#[tokio::test]
async fn errors_answer_with_nodes_codes() {
    let gateway = echo_gateway("").await;
    let cases = [
        ("GET", "EIO=4&transport=carrier-pigeon", 0),
        ("GET", "EIO=4", 0),
        ("GET", "EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAA", 1),
        ("POST", "EIO=4&transport=polling", 2),
        ("GET", "EIO=4&transport=websocket", 3),
        ("GET", "EIO=5&transport=polling", 5),
        ("GET", "transport=polling", 5),
    ];
    for (method, query, code) in cases {
        let answer = http(gateway.addr, method, query, b"", "").await;
        assert_eq!(answer.status, 400, "{method} {query}: {}", answer.text());
        assert_eq!(answer.code(), Some(code), "{method} {query}: {}", answer.text());
        assert!(answer
            .head
            .to_ascii_lowercase()
            .contains("content-type: application/json"));
    }
    let strict = echo_gateway("[socketio]\nallow_eio3 = false\n").await;
    let answer = get(strict.addr, "EIO=3&transport=polling").await;
    assert_eq!(
        (answer.status, answer.code()),
        (400, Some(5)),
        "{}",
        answer.text()
    );
}

#[tokio::test]
async fn the_first_ping_comes_one_interval_after_the_open_and_after_each_pong() {
    let gateway = quick_heartbeat().await;
    let mut ws = websocket(&gateway, "EIO=4&transport=websocket").await;
    assert!(next_text(&mut ws).await.starts_with('0'));
    let opened = Instant::now();
    // Not at once (engineioxide pinged at once; Node waits pingInterval).
    let early = tokio::time::timeout(Duration::from_millis(300), ws.next()).await;
    assert!(
        early.is_err(),
        "something before the first ping interval: {early:?}"
    );
    assert_eq!(next_text(&mut ws).await, "2");
    assert!(opened.elapsed() >= Duration::from_millis(300));
    send(&mut ws, "3").await;
    let ponged = Instant::now();
    let early = tokio::time::timeout(Duration::from_millis(300), ws.next()).await;
    assert!(
        early.is_err(),
        "a ping sooner than an interval after the pong: {early:?}"
    );
    assert_eq!(next_text(&mut ws).await, "2");
    assert!(ponged.elapsed() >= Duration::from_millis(300));
    // Messages still echo between pings.
    send(&mut ws, "4still here").await;
    assert_eq!(next_text(&mut ws).await, "4still here");
}

#[tokio::test]
async fn an_unanswered_ping_closes_the_session_on_both_transports() {
    let gateway = quick_heartbeat().await;
    let mut ws = websocket(&gateway, "EIO=4&transport=websocket").await;
    assert!(next_text(&mut ws).await.starts_with('0'));
    assert_eq!(next_text(&mut ws).await, "2");
    // No pong: the server closes the connection.
    assert!(matches!(next(&mut ws).await, Some(Message::Close(_)) | None));

    let (sid, _) = handshake(&gateway, 4).await;
    let poll = get(gateway.addr, &format!("EIO=4&transport=polling&sid={sid}")).await;
    assert_eq!(poll.text(), "2");
    tokio::time::sleep(Duration::from_millis(400 + 600)).await;
    let poll = get(gateway.addr, &format!("EIO=4&transport=polling&sid={sid}")).await;
    assert_eq!((poll.status, poll.code()), (400, Some(1)), "{}", poll.text());
}

#[tokio::test]
async fn polling_echoes_text_and_binary_in_one_payload() {
    let gateway = echo_gateway("").await;
    let (sid, _) = handshake(&gateway, 4).await;
    let query = format!("EIO=4&transport=polling&sid={sid}");
    let answer = post(gateway.addr, &query, b"4hello\x1ebAQIDBA==\x1e4\xc3\xa9").await;
    assert_eq!((answer.status, answer.text()), (200, "ok".to_owned()));
    assert!(answer
        .head
        .to_ascii_lowercase()
        .contains("content-type: text/html"));
    let poll = get(gateway.addr, &query).await;
    assert_eq!(poll.text(), "4hello\x1ebAQIDBA==\x1e4é");
    // A malformed payload closes the session.
    let answer = post(gateway.addr, &query, b"abc").await;
    assert_eq!((answer.status, answer.code()), (400, Some(3)));
    assert_eq!(get(gateway.addr, &query).await.code(), Some(1));
}

#[tokio::test]
async fn concurrent_polls_close_the_session() {
    let gateway = echo_gateway("").await;
    let (sid, _) = handshake(&gateway, 4).await;
    let query = format!("EIO=4&transport=polling&sid={sid}");
    let first = tokio::spawn({
        let (addr, query) = (gateway.addr, query.clone());
        async move { get(addr, &query).await }
    });
    tokio::time::sleep(QUIET).await;
    let second = get(gateway.addr, &query).await;
    assert_eq!(
        (second.status, second.code()),
        (400, Some(3)),
        "{}",
        second.text()
    );
    let first = first.await.unwrap();
    assert_eq!((first.status, first.text()), (200, "1".to_owned()));
    assert_eq!(get(gateway.addr, &query).await.code(), Some(1));
}

#[tokio::test]
async fn a_post_over_max_payload_is_refused_and_ends_the_session() {
    let gateway = echo_gateway("[socketio]\nmax_payload = 1000\n").await;
    let (sid, open) = handshake(&gateway, 4).await;
    assert_eq!(open["maxPayload"], 1000);
    let query = format!("EIO=4&transport=polling&sid={sid}");
    let big = format!("4{}", "x".repeat(2000));
    let answer = post(gateway.addr, &query, big.as_bytes()).await;
    assert_eq!(answer.status, 413);
    assert_eq!(get(gateway.addr, &query).await.code(), Some(1));
    // On websocket too: a message over max_payload ends the connection.
    let mut ws = websocket(&gateway, "EIO=4&transport=websocket").await;
    assert!(next_text(&mut ws).await.starts_with('0'));
    let _ = ws.send(Message::text(big)).await;
    match next(&mut ws).await {
        Some(Message::Close(Some(frame))) => assert_eq!(u16::from(frame.code), 1009),
        other => panic!("expected close 1009, got {other:?}"),
    }
}

#[tokio::test]
async fn v3_polling_frames_strings_and_answers_the_clients_pings() {
    let gateway = echo_gateway("").await;
    let answer = get(gateway.addr, "EIO=3&transport=polling").await;
    let text = answer.text();
    let (len, packet) = text.split_once(':').expect("v3 string framing");
    assert_eq!(len.parse::<usize>().unwrap(), packet.encode_utf16().count());
    let open: Value = serde_json::from_str(&packet[1..]).unwrap();
    let sid = open["sid"].as_str().unwrap();
    let query = format!("EIO=3&transport=polling&sid={sid}");
    let answer = post(gateway.addr, &query, "1:26:4héllo".as_bytes()).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(get(gateway.addr, &query).await.text(), "1:36:4héllo");
    // Binary over v3 polling: binary framing, or base64 for a session
    // opened with b64=1.
    let answer = post(gateway.addr, &query, b"10:b4AQIDBA==").await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let poll = get(gateway.addr, &query).await;
    assert!(poll
        .head
        .to_ascii_lowercase()
        .contains("application/octet-stream"));
    assert_eq!(poll.body, [1, 5, 0xff, 4, 1, 2, 3, 4]);
    let text = get(gateway.addr, "EIO=3&transport=polling&b64=1").await.text();
    let open: Value = serde_json::from_str(&text.split_once(':').unwrap().1[1..]).unwrap();
    let b64 = format!("EIO=3&transport=polling&sid={}", open["sid"].as_str().unwrap());
    assert_eq!(post(gateway.addr, &b64, b"10:b4AQIDBA==").await.status, 200);
    assert_eq!(get(gateway.addr, &b64).await.text(), "10:b4AQIDBA==");

    // v3 over websocket: the client pings; binary frames carry the type byte.
    let mut ws = websocket(&gateway, "EIO=3&transport=websocket").await;
    assert!(next_text(&mut ws).await.starts_with('0'));
    send(&mut ws, "2").await;
    assert_eq!(next_text(&mut ws).await, "3");
    ws.send(Message::binary(vec![4, 1, 2, 3])).await.unwrap();
    assert_eq!(next(&mut ws).await, Some(Message::binary(vec![4, 1, 2, 3])));
}

#[tokio::test]
async fn an_upgrade_raced_with_polls_serves_them_until_it_completes_then_refuses_them() {
    let gateway = echo_gateway("").await;
    let (sid, _) = handshake(&gateway, 4).await;
    let query = format!("EIO=4&transport=polling&sid={sid}");
    // A poll waits while the upgrade starts.
    let pending = tokio::spawn({
        let (addr, query) = (gateway.addr, query.clone());
        async move { get(addr, &query).await }
    });
    tokio::time::sleep(QUIET).await;
    let mut ws = websocket(&gateway, &format!("EIO=4&transport=websocket&sid={sid}")).await;
    send(&mut ws, "2probe").await;
    assert_eq!(next_text(&mut ws).await, "3probe");
    // The pending poll ends with a noop, so the client can pause polling.
    let pending = pending.await.unwrap();
    assert_eq!((pending.status, pending.text()), (200, "6".to_owned()));
    // Until "5", polling is still the transport: served, messages echoed.
    assert_eq!(post(gateway.addr, &query, b"4during").await.status, 200);
    assert_eq!(get(gateway.addr, &query).await.text(), "4during");
    // A second upgrade attempt meanwhile is accepted and closed (as Node).
    let mut second = websocket(&gateway, &format!("EIO=4&transport=websocket&sid={sid}")).await;
    assert!(matches!(next(&mut second).await, Some(Message::Close(_)) | None));
    send(&mut ws, "5").await;
    // Once upgraded, polling requests with that sid get 400 "Bad request".
    let answer = tokio::time::timeout(WAIT, async {
        loop {
            let answer = get(gateway.addr, &query).await;
            if answer.status == 400 {
                return answer;
            }
        }
    })
    .await
    .expect("polling still served after the upgrade");
    assert_eq!(answer.code(), Some(3));
    assert_eq!(post(gateway.addr, &query, b"4late").await.code(), Some(3));
    send(&mut ws, "4after").await;
    assert_eq!(next_text(&mut ws).await, "4after");
}

#[tokio::test]
async fn an_upgrade_that_never_completes_leaves_the_session_on_polling() {
    let gateway = echo_gateway("").await;
    let (sid, _) = handshake(&gateway, 4).await;
    let query = format!("EIO=4&transport=polling&sid={sid}");
    let mut ws = websocket(&gateway, &format!("EIO=4&transport=websocket&sid={sid}")).await;
    send(&mut ws, "2probe").await;
    assert_eq!(next_text(&mut ws).await, "3probe");
    assert_eq!(get(gateway.addr, &query).await.text(), "6");
    // Something other than "5" fails the upgrade: the socket closes…
    send(&mut ws, "4not an upgrade").await;
    assert!(matches!(next(&mut ws).await, Some(Message::Close(_)) | None));
    // …and the session goes on over polling, and may try again.
    assert_eq!(post(gateway.addr, &query, b"4still polling").await.status, 200);
    assert_eq!(get(gateway.addr, &query).await.text(), "4still polling");
    let mut ws = websocket(&gateway, &format!("EIO=4&transport=websocket&sid={sid}")).await;
    send(&mut ws, "2probe").await;
    assert_eq!(next_text(&mut ws).await, "3probe");
}

#[tokio::test]
async fn a_slow_consumer_is_closed() {
    // 8 frames of queue; a polling client that posts and never polls.
    let gateway = echo_gateway("[limits]\noutbound_queue = 8\n").await;
    let (sid, _) = handshake(&gateway, 4).await;
    let query = format!("EIO=4&transport=polling&sid={sid}");
    let payload = vec!["4echo"; 20].join("\x1e");
    assert_eq!(post(gateway.addr, &query, payload.as_bytes()).await.status, 200);
    let answer = get(gateway.addr, &query).await;
    assert_eq!(
        (answer.status, answer.code()),
        (400, Some(1)),
        "{}",
        answer.text()
    );
}

#[tokio::test]
async fn the_suites_other_refusals_and_closes_on_both_transports() {
    let gateway = echo_gateway("").await;
    // A non-numeric EIO, and a method other than GET for a handshake.
    for (method, query) in [
        ("GET", "EIO=abc&transport=polling"),
        ("PUT", "EIO=4&transport=polling"),
    ] {
        let answer = http(gateway.addr, method, query, b"", "").await;
        assert_eq!(answer.status, 400, "{method} {query}: {}", answer.text());
    }
    // Websocket handshakes with a missing or bad EIO or transport are refused.
    for query in [
        "transport=websocket",
        "EIO=abc&transport=websocket",
        "EIO=4",
        "EIO=4&transport=abc",
    ] {
        let url = gateway.ws_url(&format!("{PATH}?{query}"));
        let refused = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("no answer in time");
        assert!(refused.is_err(), "{query} was accepted");
    }
    // The client's close packet ends a websocket session.
    let mut ws = websocket(&gateway, "EIO=4&transport=websocket").await;
    assert!(next_text(&mut ws).await.starts_with('0'));
    send(&mut ws, "1").await;
    assert!(matches!(next(&mut ws).await, Some(Message::Close(_)) | None));
    // A websocket with the sid of a session already upgraded is closed,
    // and the upgraded one goes on.
    let (sid, _) = handshake(&gateway, 4).await;
    let upgrade = format!("EIO=4&transport=websocket&sid={sid}");
    let mut ws = websocket(&gateway, &upgrade).await;
    send(&mut ws, "2probe").await;
    assert_eq!(next_text(&mut ws).await, "3probe");
    send(&mut ws, "5").await;
    send(&mut ws, "4upgraded").await;
    assert_eq!(next_text(&mut ws).await, "4upgraded");
    let mut second = websocket(&gateway, &upgrade).await;
    assert!(matches!(next(&mut second).await, Some(Message::Close(_)) | None));
    send(&mut ws, "4still").await;
    assert_eq!(next_text(&mut ws).await, "4still");
}

#[tokio::test]
async fn an_upgrade_past_upgrade_timeout_is_closed_and_polling_goes_on() {
    let gateway = echo_gateway("[socketio]\nupgrade_timeout = \"300ms\"\n").await;
    let (sid, _) = handshake(&gateway, 4).await;
    let query = format!("EIO=4&transport=polling&sid={sid}");
    let mut ws = websocket(&gateway, &format!("EIO=4&transport=websocket&sid={sid}")).await;
    send(&mut ws, "2probe").await;
    assert_eq!(next_text(&mut ws).await, "3probe");
    // No "5": the engine gives up on the websocket…
    assert!(matches!(next(&mut ws).await, Some(Message::Close(_)) | None));
    // …and the session goes on over polling.
    assert_eq!(post(gateway.addr, &query, b"4still polling").await.status, 200);
    assert_eq!(get(gateway.addr, &query).await.text(), "4still polling");
}
