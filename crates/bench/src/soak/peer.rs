//! The socket.io side of the fleet: one Node process (`tests/js/soak-peer.js`)
//! running the official socket.io clients, v4 over websocket and polling and
//! v2 (EIO3), driven over its stdin and stdout one JSON line at a time.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::tally::{ClientLog, Latencies};

/// How many socket.io clients of each kind, and how they behave.
pub(crate) struct PeerPlan<'a> {
    /// `tests/js`, where `soak-peer.js` and its node_modules are.
    pub(crate) js_dir: &'a Path,
    /// Every node's `http://127.0.0.1:PORT`.
    pub(crate) urls: Vec<String>,
    /// Every room of the soak.
    pub(crate) rooms: Vec<String>,
    /// Rooms each client joins.
    pub(crate) rooms_per_client: usize,
    /// Clients per kind.
    pub(crate) v4_websocket: usize,
    /// socket.io v4 over polling only.
    pub(crate) v4_polling: usize,
    /// socket.io v2 (EIO3) over websocket.
    pub(crate) v2: usize,
    /// Mean time between a client's drops.
    pub(crate) drop_every: Duration,
    /// Index of the first client (room assignment goes on from the raw ones).
    pub(crate) first_index: usize,
}

/// The running Node process.
pub(crate) struct Peer {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Peer {
    /// Starts the peer and waits (at most `within`) until every client joined.
    pub(crate) async fn start(plan: &PeerPlan<'_>, within: Duration) -> anyhow::Result<Peer> {
        let mut child = Command::new("node")
            .current_dir(plan.js_dir)
            .arg("soak-peer.js")
            .args(["--urls", &plan.urls.join(",")])
            .args(["--rooms", &plan.rooms.join(",")])
            .args(["--rooms-per-client", &plan.rooms_per_client.to_string()])
            .args(["--v4-websocket", &plan.v4_websocket.to_string()])
            .args(["--v4-polling", &plan.v4_polling.to_string()])
            .args(["--v2", &plan.v2.to_string()])
            .args(["--drop-every-ms", &plan.drop_every.as_millis().to_string()])
            .args(["--first-index", &plan.first_index.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("run node tests/js/soak-peer.js")?;
        let stdin = child.stdin.take().context("peer stdin")?;
        let lines = BufReader::new(child.stdout.take().context("peer stdout")?).lines();
        let mut peer = Peer { child, stdin, lines };
        peer.expect("ready", within).await?;
        Ok(peer)
    }

    /// Stops the drops and waits (at most `within`) until every client is
    /// connected and resumed; returns how many are.
    pub(crate) async fn settle(&mut self, within: Duration) -> anyhow::Result<u64> {
        self.command("settle").await?;
        let settled = self.expect("settled", within).await?;
        Ok(settled["ready"].as_u64().unwrap_or(0))
    }

    /// Asks for every client's record and ends the process.
    pub(crate) async fn report(mut self) -> anyhow::Result<(Vec<ClientLog>, Latencies)> {
        self.command("report").await?;
        let report = self.expect("report", Duration::from_secs(60)).await?;
        let clients = serde_json::from_value(report["clients"].clone()).context("peer clients")?;
        let latencies = serde_json::from_value(report["latencies"].clone()).context("peer latencies")?;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        Ok((clients, latencies))
    }

    async fn command(&mut self, cmd: &str) -> anyhow::Result<()> {
        let line = format!("{}\n", serde_json::json!({ "cmd": cmd }));
        self.stdin
            .write_all(line.as_bytes())
            .await
            .context("write to the peer")?;
        self.stdin.flush().await?;
        Ok(())
    }

    async fn expect(&mut self, kind: &str, within: Duration) -> anyhow::Result<Value> {
        let wait = async {
            while let Some(line) = self.lines.next_line().await? {
                let Ok(message) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if message["type"] == kind {
                    return Ok(message);
                }
            }
            bail!("soak-peer.js exited before saying {kind}")
        };
        tokio::time::timeout(within, wait)
            .await
            .with_context(|| format!("soak-peer.js did not say {kind} within {within:?}"))?
    }
}
