//! Client addresses behind trusted proxies, and request bodies that never
//! arrive: the ways in an outside probe found (`docs/security.md`).

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::util::api::{api_config, API_KEY};
use crate::util::{Gateway, RawClient, WAIT};

/// Writes `request` on a new connection from 127.0.0.1 and returns the
/// connection with the start of the answer (what came before a pause).
async fn send(gateway: &Gateway, request: &str) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(gateway.addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut buffer = vec![0u8; 4096];
    let answer = match tokio::time::timeout(Duration::from_millis(500), stream.read(&mut buffer)).await {
        Ok(Ok(n)) => String::from_utf8_lossy(&buffer[..n]).into_owned(),
        _ => String::new(),
    };
    (stream, answer)
}

/// A raw upgrade carrying `headers`, answered with its status line.
fn upgrade_with(gateway: &Gateway, headers: &str) -> String {
    format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{headers}\r\n",
        gateway.addr
    )
}

/// Regression (outside probe): behind a trusted proxy, a client wrote
/// `X-Forwarded-For: 13.0.0.<i>, junk` and the proxy appended its real
/// address; the gateway read the chain from the left, stopped at the junk
/// and took the client's own pick. Every handshake got a fresh address, so
/// per-address limits never applied and the API showed the forged peer.
#[tokio::test]
async fn a_forged_forwarded_chain_cannot_choose_the_client_address() {
    let config = format!(
        "{}[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\n\
         [limits]\nconnects_per_second_per_ip = 0.01\nconnect_burst_per_ip = 3\n",
        api_config()
    );
    let gateway = Gateway::with_config(&config).await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        let request = format!(
            "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\
             X-Forwarded-For: 13.0.0.{i}, junk, 7.7.7.8\r\nConnection: close\r\n\r\n"
        );
        let (_, answer) = send(&gateway, &request).await;
        statuses.push(answer.get(9..12).unwrap_or_default().to_owned());
    }
    assert_eq!(statuses, ["200", "200", "200", "429", "429", "429"]);

    // The API shows the address the proxy appended.
    let raw = RawClient::connect_with_headers(
        &gateway.ws_url("/ws"),
        "127.0.0.1",
        gateway.addr.port(),
        &[("x-forwarded-for", "13.0.0.99, junk, 7.7.7.9")],
    )
    .await;
    let info = gateway
        .api_get(&format!("/api/connections/{}", raw.sid))
        .await
        .body;
    assert_eq!(info["result"]["peer"], "7.7.7.9:0", "{info}");
}

/// Regression (outside probe): eight raw connections with forged chains
/// stayed open at once from one address with `max_connections_per_ip = 4`.
#[tokio::test]
async fn a_forged_chain_cannot_escape_the_per_address_connection_limit() {
    let gateway = Gateway::with_config(
        "[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\n[limits]\nmax_connections_per_ip = 4\n",
    )
    .await;
    let mut open = Vec::new();
    let mut statuses = Vec::new();
    for i in 0..8 {
        let header = format!("X-Forwarded-For: 13.0.1.{i}, junk, 7.7.7.8\r\n");
        let (stream, answer) = send(&gateway, &upgrade_with(&gateway, &header)).await;
        statuses.push(answer.get(9..12).unwrap_or_default().to_owned());
        open.push(stream);
    }
    assert_eq!(statuses, ["101", "101", "101", "101", "503", "503", "503", "503"]);
}

/// Regression (outside probe): when a trusted peer sent both headers,
/// `X-Forwarded-For` won, so behind a proxy that writes only `Forwarded`
/// the client chose its address. Only the configured header is read now.
#[tokio::test]
async fn only_the_header_the_proxies_write_is_believed() {
    for (header, expected) in [("x-forwarded-for", "6.6.6.6:0"), ("forwarded", "7.7.7.10:0")] {
        let config = format!(
            "{}[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\nforwarded_header = \"{header}\"\n",
            api_config()
        );
        let gateway = Gateway::with_config(&config).await;
        let raw = RawClient::connect_with_headers(
            &gateway.ws_url("/ws"),
            "127.0.0.1",
            gateway.addr.port(),
            &[
                ("x-forwarded-for", "6.6.6.6"),
                ("forwarded", "for=7.7.7.10;proto=http"),
            ],
        )
        .await;
        let info = gateway
            .api_get(&format!("/api/connections/{}", raw.sid))
            .await
            .body;
        assert_eq!(info["result"]["peer"], expected, "{header}: {info}");
    }
}

/// Reads until the gateway closes the connection; how long that took.
async fn closed_after(stream: &mut TcpStream, started: Instant) -> (Duration, String) {
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    tokio::time::timeout(WAIT, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await
    .expect("the gateway kept a stalled request open");
    (started.elapsed(), String::from_utf8_lossy(&answer).into_owned())
}

/// Regression (outside probe): a polling POST announcing 100,000 bytes and
/// sending one held its socket forever, uncounted; 1,100 of them exhausted
/// the gateway's descriptors. Bodies now have `server.body_read_timeout`
/// to arrive, and at most `limits.max_connections_per_ip` may be in flight
/// from one address.
#[tokio::test]
async fn stalled_request_bodies_are_cut_off_and_counted_per_address() {
    let config = format!(
        "{}[server]\nbody_read_timeout = \"2s\"\n[limits]\nmax_connections_per_ip = 4\n",
        api_config()
    );
    let gateway = Gateway::with_config(&config).await;
    // One session per POST: two POSTs at once on one session end it at
    // once, as Node's engine.io answers an overlap.
    let mut posts = Vec::new();
    for _ in 0..6 {
        let handshake = gateway.http_get("/socket.io/?EIO=4&transport=polling").await;
        let sid = handshake
            .split("\"sid\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("an engine.io handshake")
            .to_owned();
        posts.push(format!(
            "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\
             Content-Type: text/plain\r\nContent-Length: 100000\r\n\r\n4"
        ));
    }
    // Six at once from one address: four are read, two refused at once.
    let started = Instant::now();
    let mut stalled = Vec::new();
    for stalled_post in &posts {
        let mut stream = TcpStream::connect(gateway.addr).await.expect("connect");
        stream.write_all(stalled_post.as_bytes()).await.expect("write");
        stalled.push(stream);
    }
    let outcomes =
        futures_util::future::join_all(stalled.iter_mut().map(|stream| closed_after(stream, started))).await;
    let (mut refused, mut cut_off) = (0, 0);
    for (after, answer) in outcomes {
        if answer.starts_with("HTTP/1.1 429") {
            assert!(answer.contains("limits.max_connections_per_ip"), "{answer}");
            assert!(after < Duration::from_millis(1500), "refused after {after:?}");
            refused += 1;
        } else {
            // Answered and closed once their time was up (a cut-off also
            // ends its engine.io session, as a malformed body does).
            assert!(after >= Duration::from_millis(1900), "closed after {after:?}");
            assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
            cut_off += 1;
        }
    }
    assert_eq!((refused, cut_off), (2, 4));

    // The API's bodies get the same deadline, with a clear answer.
    let stalled_api = format!(
        "POST /api/emit HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{"
    );
    let (mut stream, _) = send(&gateway, &stalled_api).await;
    let (_, answer) = closed_after(&mut stream, Instant::now()).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("server.body_read_timeout"), "{answer}");

    // Whole bodies are served as before.
    let emit = gateway
        .api_post("/api/emit", &json!({"room": "r", "event": "e", "data": 1}))
        .await;
    assert_eq!(emit.status, 200, "{emit:?}");
}
