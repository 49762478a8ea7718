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

#[tokio::test]
async fn only_allowed_browser_origins_connect_and_polling_gets_cors() {
    let gateway = Gateway::with_config("[server]\nallowed_origins = [\"https://app.example\"]\n").await;
    let request = |method: &str, path: &str, origin: &str| {
        format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nOrigin: {origin}\r\nAccess-Control-Request-Headers: content-type\r\nConnection: close\r\n\r\n",
            gateway.addr
        )
    };
    let polling = "/socket.io/?EIO=4&transport=polling";

    let allowed = raw_http(&gateway, &request("GET", polling, "https://app.example")).await;
    assert!(allowed.starts_with("HTTP/1.1 200"), "{allowed}");
    assert!(
        allowed.contains("access-control-allow-origin: https://app.example"),
        "{allowed}"
    );
    let preflight = raw_http(&gateway, &request("OPTIONS", polling, "https://app.example")).await;
    assert!(preflight.starts_with("HTTP/1.1 204"), "{preflight}");
    assert!(
        preflight.contains("access-control-allow-methods: GET, POST, OPTIONS"),
        "{preflight}"
    );

    let refused = raw_http(&gateway, &request("GET", polling, "https://evil.example")).await;
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    let mut evil_upgrade = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nOrigin: https://evil.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
        gateway.addr
    );
    evil_upgrade.push_str("Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    let refused = raw_http(&gateway, &evil_upgrade).await;
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    assert!(refused.contains("origin not allowed"), "{refused}");

    // Clients that send no Origin (mini-programs, native apps, servers) are not checked.
    let native = upgrade(&gateway, "/ws", None).await;
    assert!(native.starts_with("HTTP/1.1 101"), "{native}");
}

#[tokio::test]
async fn oversized_request_heads_get_431() {
    let gateway = Gateway::with_config("[server]\nmax_headers = 32\nmax_header_bytes = 8192\n").await;
    let many: String = (0..40).map(|i| format!("X-Filler-{i}: x\r\n")).collect();
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: {}\r\n{many}Connection: close\r\n\r\n",
        gateway.addr
    );
    let answer = raw_http(&gateway, &request).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");

    let long = format!(
        "GET /healthz HTTP/1.1\r\nHost: {}\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        gateway.addr,
        "y".repeat(20_000)
    );
    let answer = raw_http(&gateway, &long).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");

    // Normal requests are untouched.
    assert!(gateway.http_get("/healthz").await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn the_pages_and_the_socket_io_client_are_served_from_the_binary() {
    let gateway = Gateway::start().await;
    let response = gateway.http_get("/demo").await;
    assert!(response.starts_with("HTTP/1.1 308"), "{response}");
    assert!(
        response.to_ascii_lowercase().contains("location: /demo/\r\n"),
        "{response}"
    );
    for page in ["/demo/", "/admin/"] {
        let response = gateway.http_get(page).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{page}: {response}");
        assert!(response.contains("content-type: text/html"), "{page}: {response}");
        assert!(response.contains("x-frame-options: DENY"), "{page}: {response}");
    }
    let sdk = gateway.http_get("/demo/client/index.js").await;
    assert!(sdk.contains("content-type: text/javascript"), "{sdk}");
    assert!(sdk.contains("export function connect"), "{sdk}");
    // Where Node's socket.io serves it, so migrated pages keep their <script>.
    for path in ["/socket.io/socket.io.min.js", "/socket.io/socket.io.js"] {
        let client = gateway.http_get(path).await;
        assert!(client.starts_with("HTTP/1.1 200"), "{path}");
        assert!(client.contains("\r\n\r\n/*!\n * Socket.IO v4.8.4"), "{path}");
    }
}

#[tokio::test]
async fn pages_follow_the_path_prefix_and_can_be_turned_off() {
    let gateway = Gateway::with_config(
        "[server]\npath_prefix = \"/rt\"\n[console]\nadmin_path = \"\"\n[socketio]\nserve_client = false",
    )
    .await;
    let response = gateway.http_get("/rt/demo").await;
    assert!(
        response.to_ascii_lowercase().contains("location: /rt/demo/\r\n"),
        "{response}"
    );
    let config = gateway.http_get("/rt/demo/config.json").await;
    assert!(
        config.ends_with(r#""prefix":"/rt","raw_path":"/ws","room":"demo","socketio_path":"/socket.io/"}"#),
        "{config}"
    );
    for off in ["/rt/admin/", "/rt/socket.io/socket.io.min.js"] {
        let response = gateway.http_get(off).await;
        assert!(!response.starts_with("HTTP/1.1 200"), "{off}: {response}");
    }
}
