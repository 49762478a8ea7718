//! What an operator relies on: health and readiness probes, and a graceful
//! shutdown that tells live clients of both protocols to go elsewhere.

use std::time::Duration;

use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::subprotocol::reqwest_like::raw_http;
use crate::util::backend::Backend;
use crate::util::{Gateway, RawClient, SioClient};

#[tokio::test]
async fn readyz_says_ready_on_a_healthy_node() {
    let gateway = Gateway::start().await;
    let response = gateway.http_get("/readyz").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("ready\n"), "{response}");
}

#[tokio::test]
async fn sigterm_drains_clients_of_both_protocols_and_waits_for_webhooks() {
    // A backend that takes a moment: the shutdown must wait for its answer.
    let backend = Backend::start(|_path, _body: Value| async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        (200, json!({"ack": ["finished"]}))
    })
    .await;
    let config = format!(
        "[[webhooks.routes]]\nevents = [\"slow\"]\nurl = \"{}/events\"\n",
        backend.url
    );
    let mut gateway = Gateway::with_config(&config).await;
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    let mut sio = SioClient::connect(&gateway).await;
    raw.send(json!({"op": "emit", "event": "slow", "data": null, "id": 1}))
        .await;
    backend.wait_for("/events").await;

    let status = gateway.terminate().await;
    assert!(status.success(), "{status:?}");
    // The in-flight webhook call finished and its ack was delivered…
    let ack = raw.recv().await;
    assert_eq!(ack, json!({"op": "ack", "id": 1, "ok": true, "data": "finished"}));
    // …then the client was told to go elsewhere.
    let frame = raw.expect_close().await.expect("a close frame");
    assert_eq!(frame.code, CloseCode::Away);
    assert_eq!(frame.reason.as_str(), "going away");
    let disconnect = sio.expect_type("disconnect").await;
    assert!(disconnect["reason"].is_string(), "{disconnect}");
}

#[tokio::test]
async fn a_path_prefix_serves_everything_under_it_for_proxies_that_keep_it() {
    let gateway = Gateway::with_config("[server]\npath_prefix = \"/realtime\"\n").await;
    let mut raw = RawClient::connect(&gateway.ws_url("/realtime/ws")).await;
    raw.join("r").await;
    let mut sio = crate::util::SioClient::connect_with(
        &gateway,
        crate::util::SioOptions {
            path: "/realtime/socket.io/",
            transports: "polling,websocket",
            ..Default::default()
        },
    )
    .await;
    sio.join("r").await;
    sio.publish("r", "hi", json!("through the prefix")).await;
    assert_eq!(raw.recv_event().await["data"], "through the prefix");

    // Outside the prefix there is nothing, but the probes answer at the root.
    let response = gateway.http_get("/ws").await;
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    for probe in ["/healthz", "/readyz", "/realtime/healthz"] {
        let response = gateway.http_get(probe).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{probe}: {response}");
    }
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let dir = std::env::temp_dir().join(format!("sockgate-e2e-json-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("gateway.toml");
    std::fs::write(&config, "[log]\nformat = \"json\"\n").unwrap();
    let mut child = tokio::process::Command::new(crate::util::gateway::binary())
        .args(["--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let listening = tokio::time::timeout(crate::util::WAIT, async {
        loop {
            let line = lines.next_line().await.unwrap().expect("a log line");
            let record: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"));
            if record["fields"]["message"] == "listening" {
                return record;
            }
        }
    })
    .await
    .expect("a listening line");
    assert_eq!(listening["level"], "INFO");
    assert!(listening["fields"]["local_addr"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    let _ = child.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The value of one sample in a Prometheus text scrape.
pub(crate) fn sample(scrape: &str, name: &str) -> f64 {
    scrape
        .lines()
        .find(|line| line.split_whitespace().next() == Some(name))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in:\n{scrape}"))
}

#[tokio::test]
async fn metrics_move_as_clients_act() {
    let gateway = Gateway::start().await;
    let scrape = || async { gateway.http_get("/metrics").await };
    let before = scrape().await;
    assert!(before.contains("text/plain; version=0.0.4"), "{before}");
    assert_eq!(
        sample(
            &before,
            "sockgate_connections{protocol=\"raw\",transport=\"websocket\"}"
        ),
        0.0
    );

    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    let mut sio = SioClient::connect(&gateway).await;
    raw.join("m").await;
    sio.join("m").await;
    sio.publish("m", "e", json!(1)).await;
    raw.recv_event().await;
    let refused = raw_http(
        &gateway,
        &format!(
            "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
            gateway.addr
        ),
    )
    .await;
    assert!(refused.starts_with("HTTP/1.1 400"));

    let after = scrape().await;
    assert_eq!(
        sample(
            &after,
            "sockgate_connections{protocol=\"raw\",transport=\"websocket\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &after,
            "sockgate_connections{protocol=\"socket.io\",transport=\"websocket\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &after,
            "sockgate_connections{protocol=\"socket.io\",transport=\"polling\"}"
        ),
        0.0
    );
    assert_eq!(sample(&after, "sockgate_rooms"), 1.0);
    assert_eq!(sample(&after, "sockgate_publishes_total"), 1.0);
    assert_eq!(sample(&after, "sockgate_deliveries_total"), 1.0);
    assert_eq!(sample(&after, "sockgate_raw_handshakes_total"), 1.0);
    assert_eq!(
        sample(
            &after,
            "sockgate_raw_handshake_failures_total{reason=\"missing_key\"}"
        ),
        1.0
    );
    assert!(sample(&after, "sockgate_messages_in_total{protocol=\"raw\"}") >= 1.0);
    // join + publish from the socket.io client.
    assert_eq!(
        sample(&after, "sockgate_messages_in_total{protocol=\"socket.io\"}"),
        2.0
    );
    // open, join ack, the event.
    assert_eq!(sample(&after, "sockgate_raw_messages_out_total"), 3.0);
}

#[tokio::test]
async fn metrics_can_move_to_their_own_listener() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gateway = Gateway::with_config(&format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n")).await;
    // Gone from the main listener…
    let main = gateway.http_get("/metrics").await;
    assert!(main.starts_with("HTTP/1.1 404"), "{main}");
    // …and served on its own.
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(sample(&answer, "sockgate_rooms"), 0.0);
}

/// Reads one HTTP/1.1 answer with a `Content-Length` body from `stream`.
async fn read_answer(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    tokio::time::timeout(crate::util::WAIT, async {
        loop {
            let text = String::from_utf8_lossy(&answer).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|line| {
                        line.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(str::to_owned)
                    })
                    .and_then(|value| value.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if body.len() >= length {
                    return text;
                }
            }
            let n = stream.read(&mut buffer).await.expect("read");
            assert!(n > 0, "closed before a whole answer: {text:?}");
            answer.extend_from_slice(&buffer[..n]);
        }
    })
    .await
    .expect("an answer in time")
}

/// Whether the gateway closes `stream` within `within` (end of stream).
async fn closed_within(stream: &mut tokio::net::TcpStream, within: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buffer = [0u8; 256];
    matches!(
        tokio::time::timeout(within, stream.read(&mut buffer)).await,
        Ok(Ok(0) | Err(_))
    )
}

/// Regression: HTTP connections got no graceful shutdown, so an API
/// request still being received when SIGTERM came was cut off when the
/// process exited. Now keep-alive ends at SIGTERM: an idle connection is
/// closed at once (it does not hold the shutdown), a request in flight is
/// answered first, then its connection closes.
#[tokio::test]
async fn sigterm_closes_idle_keep_alive_connections_and_answers_requests_in_flight() {
    use tokio::io::AsyncWriteExt;
    let config = format!(
        "[server]\nshutdown_timeout = \"30s\"\n{}",
        crate::util::api::api_config()
    );
    let mut gateway = Gateway::with_config(&config).await;
    let mut idle = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: g\r\n\r\n")
        .await
        .unwrap();
    assert!(read_answer(&mut idle).await.starts_with("HTTP/1.1 200"));

    // An API request whose body is still on its way when SIGTERM comes.
    let body = json!({"event": "e", "data": "late", "room": "r"}).to_string();
    let (first, rest) = body.split_at(body.len() / 2);
    let mut busy = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    let head = format!(
        "POST /api/emit HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{first}",
        crate::util::api::API_KEY,
        body.len()
    );
    busy.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let started = std::time::Instant::now();
    let rest = rest.to_owned();
    let client = tokio::spawn(async move {
        // The idle connection is closed while the shutdown waits for the
        // busy one, not when the process exits.
        assert!(
            closed_within(&mut idle, Duration::from_secs(5)).await,
            "the idle keep-alive connection stayed open"
        );
        busy.write_all(rest.as_bytes()).await.unwrap();
        let answer = read_answer(&mut busy).await;
        let closed = closed_within(&mut busy, Duration::from_secs(5)).await;
        (answer, closed)
    });
    let status = gateway.terminate().await;
    assert!(status.success(), "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the shutdown took {:?}: something held it to server.shutdown_timeout",
        started.elapsed()
    );
    let (answer, closed) = client.await.expect("the client task");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(closed, "the connection closed after its last answer");
}
