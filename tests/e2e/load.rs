//! Under load: a storm of socket.io clients that each join a room the
//! instant they are created must have every join acked.
//!
//! Regression guard for socketioxide confirming the CONNECT before its
//! connect handler runs: handlers registered there missed 7-14 of 10,000
//! early joins. sockgate registers them in a connect middleware.

use std::process::Stdio;

use serde_json::Value;
use tokio::process::Command;

use crate::util::sio::js_dir;
use crate::util::Gateway;

async fn storm(gateway: &Gateway, client: &str, transports: &str, n: usize) -> Value {
    let output = Command::new("node")
        .current_dir(js_dir())
        .arg("connect-storm.js")
        .args(["--url", &gateway.http_url()])
        .args(["--client", client, "--transports", transports])
        .args([
            "--n",
            &n.to_string(),
            "--concurrency",
            "200",
            "--timeout-ms",
            "120000",
        ])
        .stderr(Stdio::inherit())
        .output()
        .await
        .expect("run connect-storm.js");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|_| panic!("connect-storm printed {stdout}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn every_join_sent_at_connect_time_is_acked_under_load() {
    // Every client comes from 127.0.0.1: the per-address rate is off.
    let gateway = Gateway::with_config("[limits]\nconnects_per_second_per_ip = 0\n").await;
    for (client, transports, n) in [
        ("v4", "websocket", 10_000),
        ("v2", "websocket", 1000),
        ("v4", "polling", 500),
    ] {
        let result = storm(&gateway, client, transports, n).await;
        assert_eq!(result["acked"], n, "{client} over {transports}: {result}");
        assert_eq!(result["failed"], 0, "{client} over {transports}: {result}");
    }
}
