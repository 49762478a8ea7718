//! Sec-WebSocket-Protocol: mini-program clients offer one and fail when the
//! 101 names none, on raw and socket.io upgrades alike.

use serde_json::json;

use crate::util::{Gateway, RawClient, SioClient, SioOptions};

#[tokio::test]
async fn raw_upgrades_echo_the_first_offered_subprotocol_by_default() {
    let gateway = Gateway::start().await;
    let client = RawClient::connect_with_protocols(&gateway.ws_url("/ws"), Some("wechat, json")).await;
    assert_eq!(client.response.headers()["sec-websocket-protocol"], "wechat");
    let plain = RawClient::connect(&gateway.ws_url("/ws")).await;
    assert!(plain.response.headers().get("sec-websocket-protocol").is_none());
}

#[tokio::test]
async fn socketio_upgrades_echo_the_subprotocol_too() {
    let gateway = Gateway::start().await;
    let mut raw = RawClient::connect(&gateway.ws_url("/ws")).await;
    raw.join("p").await;
    // The official client offering a subprotocol fails its handshake unless
    // the 101 echoes one, so connecting at all proves the echo.
    for client in ["v4", "v2"] {
        let mut sio = SioClient::connect_with(
            &gateway,
            SioOptions {
                client,
                protocols: Some("wxapp"),
                ..SioOptions::default()
            },
        )
        .await;
        assert_eq!(sio.transport, "websocket");
        sio.publish("p", "e", json!(client)).await;
        assert_eq!(raw.recv_event().await["data"], client);
    }
}

#[tokio::test]
async fn a_configured_list_picks_an_accepted_name_or_refuses() {
    let gateway = Gateway::with_config("[raw]\nsubprotocols = [\"sockgate.v1\"]\n").await;
    let client = RawClient::connect_with_protocols(&gateway.ws_url("/ws"), Some("mqtt, sockgate.v1")).await;
    assert_eq!(client.response.headers()["sec-websocket-protocol"], "sockgate.v1");

    let response = reqwest_like::upgrade(&gateway, "/ws", Some("mqtt")).await;
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(
        response.contains("none of the offered subprotocols is accepted"),
        "{response}"
    );
    let response =
        reqwest_like::upgrade(&gateway, "/socket.io/?EIO=4&transport=websocket", Some("mqtt")).await;
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
}

/// Hand-written upgrade requests, to see the exact HTTP answer.
pub mod reqwest_like {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use crate::util::{Gateway, WAIT};

    /// Sends a WebSocket upgrade request for `path` and returns the response head and body.
    pub async fn upgrade(gateway: &Gateway, path: &str, protocols: Option<&str>) -> String {
        let mut request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
            gateway.addr
        );
        if let Some(protocols) = protocols {
            request.push_str(&format!("Sec-WebSocket-Protocol: {protocols}\r\n"));
        }
        request.push_str("\r\n");
        raw_http(gateway, &request).await
    }

    /// Sends any request text and returns what the gateway answered before
    /// closing or going quiet.
    pub async fn raw_http(gateway: &Gateway, request: &str) -> String {
        let mut stream = TcpStream::connect(gateway.addr).await.expect("connect");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut buffer = vec![0u8; 8192];
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(WAIT, async {
            loop {
                match tokio::time::timeout(std::time::Duration::from_millis(300), stream.read(&mut buffer))
                    .await
                {
                    Ok(Ok(0)) | Ok(Err(_)) => break,
                    Ok(Ok(n)) => answer.extend_from_slice(&buffer[..n]),
                    Err(_) if !answer.is_empty() => break,
                    Err(_) => {}
                }
            }
        })
        .await;
        String::from_utf8_lossy(&answer).into_owned()
    }
}
