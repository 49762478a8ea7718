//! The front listener's plain HTTP answers.

use crate::subprotocol::reqwest_like::{raw_http, upgrade};
use crate::util::Gateway;

#[tokio::test]
async fn healthz_answers_ok() {
    let gateway = Gateway::start().await;
    let response = gateway.http_get("/healthz").await;
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.ends_with("\r\n\r\nok\n"), "{response}");
}

#[tokio::test]
async fn unknown_paths_get_404_and_are_never_upgraded() {
    let gateway = Gateway::start().await;
    let response = gateway.http_get("/nope").await;
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    assert!(response.ends_with("not found\n"), "{response}");

    let response = upgrade(&gateway, "/elsewhere", None).await;
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    assert!(
        !response.to_ascii_lowercase().contains("sec-websocket-accept"),
        "{response}"
    );
}

#[tokio::test]
async fn the_raw_path_without_an_upgrade_says_so() {
    let gateway = Gateway::start().await;
    let response = gateway.http_get("/ws").await;
    assert!(response.starts_with("HTTP/1.1 426"), "{response}");
    assert!(response.contains("WebSocket upgrades only"), "{response}");
}

#[tokio::test]
async fn a_malformed_upgrade_gets_a_clear_400() {
    let gateway = Gateway::start().await;
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
        gateway.addr
    );
    let response = raw_http(&gateway, &request).await;
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(response.contains("missing Sec-WebSocket-Key"), "{response}");
}

#[tokio::test]
async fn the_raw_upgrade_follows_rfc_6455() {
    let gateway = Gateway::start().await;
    let response = upgrade(&gateway, "/ws", None).await;
    assert!(response.starts_with("HTTP/1.1 101"), "{response}");
    // The accept value for the RFC's own sample key.
    assert!(response.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{response}");
}
