//! `sockgate-client` (clients/js), the raw-protocol SDK, against the real
//! gateway: its Node tests (tests/js/sdk, `node --test`) through the
//! WebSocket transport on the `ws` package and through the SocketTask
//! transport on a `wx.connectSocket` shim, and the SDK in headless Chromium
//! on the browser's own WebSocket.
//!
//! Each test starts a gateway with the config its Node tests expect and
//! passes its addresses in `SOCKGATE_*` variables.

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::process::Command;

use crate::util::api::{api_config, API_KEY};
use crate::util::backend::Backend;
use crate::util::jwt::HS256_SECRET;
use crate::util::sio::js_dir;
use crate::util::Gateway;

/// Longest one `node` run may take before the test fails.
const NODE_TIMEOUT: Duration = Duration::from_secs(180);

/// The webhook backend of the main config: `echo` acks `{"echoed": data}`,
/// `slow` acks after 2 s (longer than the tests' `ackTimeout`).
async fn webhook_backend() -> Backend {
    Backend::start(|_path, body: Value| async move {
        if body["event"] == "slow" {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        (200, json!({"ack": [{"echoed": body["args"][0]}]}))
    })
    .await
}

/// What client.test.mjs expects: clients may use `room-*` only, a 500 ms
/// heartbeat, the HTTP API, and webhook routes for `echo` and `slow`.
fn main_config(backend: &Backend) -> String {
    format!(
        "{api}\
         [rooms]\nallow_join = [\"room-*\"]\nallow_publish = [\"room-*\"]\n\
         [raw]\nping_interval = \"500ms\"\n\
         [webhooks]\ntimeout = \"3s\"\n\
         [[webhooks.routes]]\nevents = [\"echo\", \"slow\"]\nurl = \"{url}/events\"\n",
        api = api_config(),
        url = backend.url,
    )
}

/// What auth.test.mjs expects: tokens required (HS256), given up on after 1 s.
fn auth_config() -> String {
    format!(
        "{api}\
         [auth]\nrequired = true\ntimeout = \"1s\"\n\
         [auth.jwt]\nhs256_secret = \"{HS256_SECRET}\"\n",
        api = api_config(),
    )
}

/// What resume.test.mjs expects: rooms `room-*` keep a history of 5
/// events, an outbound queue of 16 (smaller than a replay to 8 rooms), and
/// the HTTP API.
fn recovery_config() -> String {
    format!(
        "{api}\
         [rooms]\nrecover = [\"room-*\"]\nhistory_size = 5\n\
         [limits]\noutbound_queue = 16\n",
        api = api_config(),
    )
}

/// Runs `node --test files` with the SDK transport `adapter` ("ws" or "wx")
/// against `gateway`, and fails with node's report unless every test passed.
async fn node_test(gateway: &Gateway, adapter: &str, files: &[&str]) {
    let mut command = Command::new("node");
    command
        .current_dir(js_dir())
        .args([
            "--test",
            "--test-force-exit",
            "--test-timeout=60000",
            "--test-reporter=spec",
        ])
        .args(files)
        .env("SOCKGATE_ADAPTER", adapter)
        .env("SOCKGATE_WS_URL", gateway.ws_url("/ws"))
        .env("SOCKGATE_HTTP", gateway.http_url())
        .env("SOCKGATE_API_KEY", API_KEY)
        .env("SOCKGATE_JWT_SECRET", HS256_SECRET);
    let output = run(command).await;
    let report = String::from_utf8_lossy(&output.stdout);
    let passed = count(&report, "pass");
    let failed = count(&report, "fail");
    println!("{report}");
    assert!(
        output.status.success() && failed == Some(0) && passed.is_some_and(|n| n > 0),
        "node --test {files:?} over {adapter}: {}, passed {passed:?}, failed {failed:?}\n{report}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
    );
}

/// Runs a node command to its end, within [`NODE_TIMEOUT`].
async fn run(mut command: Command) -> Output {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    tokio::time::timeout(NODE_TIMEOUT, command.output())
        .await
        .expect("node did not finish in time")
        .expect("run node (is Node.js installed and tests/js set up with npm ci?)")
}

/// The number in the spec reporter's summary line `ℹ <what> N`.
fn count(report: &str, what: &str) -> Option<u32> {
    let prefix = format!("ℹ {what} ");
    report
        .lines()
        .find_map(|line| line.trim().strip_prefix(&prefix)?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn sdk_over_the_websocket_transport() {
    let backend = webhook_backend().await;
    let gateway = Gateway::with_config(&main_config(&backend)).await;
    node_test(&gateway, "ws", &["sdk/units.test.mjs", "sdk/client.test.mjs"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sdk_over_a_wx_connect_socket_shim() {
    let backend = webhook_backend().await;
    let gateway = Gateway::with_config(&main_config(&backend)).await;
    node_test(&gateway, "wx", &["sdk/client.test.mjs", "sdk/platforms.test.mjs"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sdk_tokens_and_refusals() {
    let gateway = Gateway::with_config(&auth_config()).await;
    for adapter in ["ws", "wx"] {
        node_test(&gateway, adapter, &["sdk/auth.test.mjs"]).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sdk_resumes_missed_events() {
    let gateway = Gateway::with_config(&recovery_config()).await;
    for adapter in ["ws", "wx"] {
        node_test(&gateway, adapter, &["sdk/resume.test.mjs"]).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sdk_in_headless_chromium() {
    let backend = webhook_backend().await;
    let gateway = Gateway::with_config(&main_config(&backend)).await;
    let artifacts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    let screenshot = artifacts.join("sdk-browser.png");
    let _ = std::fs::remove_file(&screenshot);
    let mut command = Command::new("node");
    command
        .current_dir(js_dir())
        .arg("sdk/browser.mjs")
        .env("SOCKGATE_WS_URL", gateway.ws_url("/ws"))
        .env("SOCKGATE_ARTIFACTS", &artifacts);
    let output = run(command).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let result: Value = stdout
        .lines()
        .last()
        .and_then(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("browser.mjs printed no result: {stdout}\n{stderr}"));
    println!("{result:#}");
    assert!(
        output.status.success() && result["ok"] == true,
        "the SDK failed in Chromium (is /usr/bin/chromium installed?): {result:#}\n{stderr}"
    );
    let checks = result["checks"].as_array().expect("checks");
    assert!(checks.len() >= 8, "too few checks ran: {result:#}");
    assert!(screenshot.is_file(), "no screenshot at {}", screenshot.display());
}
