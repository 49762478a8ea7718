//! The pages the gateway serves itself, driven in a real headless Chromium
//! by Playwright (`tests/js/pages/*.mjs`): the demo (a socket.io client and
//! a raw WebSocket client chatting in one room) and the admin dashboard
//! (counts, rooms, connections and a Disconnect button, through the HTTP
//! API). Screenshots land in `target/test-artifacts/`.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::util::api::{api_config, API_KEY};
use crate::util::sio::js_dir;
use crate::util::Gateway;

/// A whole page script: browser start, page loads, every check.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `node pages/<script> <args>` in `tests/js` and fails the test, with
/// everything the script said, unless it exits 0.
async fn run_page_script(script: &str, args: &[&str]) {
    let dir = js_dir();
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "{}/node_modules/playwright-core is missing: run `npm ci` there",
        dir.display()
    );
    let mut command = Command::new("node");
    command
        .current_dir(&dir)
        .arg(format!("pages/{script}"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = tokio::time::timeout(SCRIPT_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("node pages/{script} did not finish within {SCRIPT_TIMEOUT:?}"))
        .expect("run node (is Node.js installed?)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "node pages/{script} {args:?} failed ({}); screenshots in target/test-artifacts/\n\
         --- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        output.status
    );
    println!("{stdout}");
}

#[tokio::test]
async fn the_demo_page_chats_across_socket_io_and_raw_websocket() {
    let gateway = Gateway::start().await;
    // Regression (outside probe): the demo had no Content-Security-Policy;
    // the chat below runs in Chromium under it.
    let page = gateway.http_get("/demo/").await.to_ascii_lowercase();
    assert!(
        page.contains("content-security-policy: default-src 'self'; connect-src 'self'"),
        "{page}"
    );
    run_page_script("demo.mjs", &["--url", &gateway.http_url()]).await;
}

#[tokio::test]
async fn the_demo_page_works_behind_a_path_prefix() {
    let gateway = Gateway::with_config("[server]\npath_prefix = \"/rt\"\n").await;
    run_page_script("demo.mjs", &["--url", &gateway.http_url(), "--prefix", "/rt"]).await;
}

#[tokio::test]
async fn the_admin_page_shows_live_connections_and_disconnects_one() {
    let gateway = Gateway::with_config(&api_config()).await;
    // A second gateway without api.keys: the page must say the API is off.
    let without_api = Gateway::start().await;
    run_page_script(
        "admin.mjs",
        &[
            "--url",
            &gateway.http_url(),
            "--key",
            API_KEY,
            "--off-url",
            &without_api.http_url(),
        ],
    )
    .await;
}
