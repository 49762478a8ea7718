//! A short soak under faults, through the real binaries: `sockgate-bench
//! soak` runs three sockgate nodes over a three-master, three-replica Redis
//! Cluster with a small mixed fleet (raw WebSocket, socket.io v4 over
//! websocket and polling, socket.io v2) for about a minute, kills a Redis
//! master and a sockgate node on the way, and judges what every client got.
//! Nothing may be lost or duplicated for clients that resumed, and both
//! faults must really have happened.

use std::path::PathBuf;
use std::process::Stdio;

use serde_json::Value;
use tokio::process::Command;

use crate::util::redis_cluster::RedisCluster;
use crate::util::sio::js_dir;

/// The built load tool: `$SOCKGATE_BENCH_BIN`, or `target/<profile>/sockgate-bench`
/// next to the sockgate binary the other tests run.
fn bench_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("SOCKGATE_BENCH_BIN") {
        return path.into();
    }
    let bin = crate::util::gateway::binary().with_file_name("sockgate-bench");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p sockgate -p sockgate-bench` first",
        bin.display()
    );
    bin
}

#[tokio::test(flavor = "multi_thread")]
async fn a_short_soak_under_faults_loses_and_duplicates_nothing_for_resumed_clients() {
    let cluster = RedisCluster::start().await;
    // Every client's record, to see where a loss happened (left behind).
    let records = std::env::temp_dir().join(format!("sockgate-soak-records-{}.json", std::process::id()));
    // A fleet small enough for two shared cores: 20 events/s over 8 rooms,
    // 12 receivers each dropping about every 8 s.
    let output = Command::new(bench_binary())
        .arg("soak")
        .args(["--redis-url", &cluster.url()])
        .arg("--sockgate-bin")
        .arg(crate::util::gateway::binary())
        .arg("--js-dir")
        .arg(js_dir())
        .args(["--duration", "60", "--rooms", "8", "--rate", "20"])
        .args([
            "--raw",
            "6",
            "--v4-websocket",
            "2",
            "--v4-polling",
            "2",
            "--v2",
            "2",
        ])
        .args(["--drop-every", "8", "--node-down", "3"])
        .arg("--records")
        .arg(&records)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .await
        .expect("run sockgate-bench soak");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "sockgate-bench soak failed: {stdout}");
    let result: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|_| panic!("sockgate-bench soak printed {stdout}"));
    println!("{result}");

    // Both faults happened: a master died and its replica took over; a node
    // died and came back.
    let faults = &result["faults"];
    assert!(
        faults["master_kill"]["pid"].is_u64(),
        "no master was killed: {faults}"
    );
    assert!(
        faults["master_kill"]["failover_seconds"].is_f64(),
        "the killed master's replica did not take over: {faults}"
    );
    assert!(
        faults["node_kill"]["back_at_s"].is_f64(),
        "no node was killed and restarted: {faults}"
    );

    // Traffic flowed, clients dropped and resumed, every client came back.
    assert!(result["published"].as_u64() > Some(0), "{result}");
    assert!(result["delivered"].as_u64() > Some(0), "{result}");
    assert!(
        result["clients_resumed"].as_u64() > Some(0),
        "no client resumed: {result}"
    );
    assert_eq!(result["settled_peer_clients"], 6, "{result}");

    // The point: nothing lost or duplicated for clients that resumed.
    let records = records.display();
    assert_eq!(result["lost_resumed"], 0, "{result}; records in {records}");
    assert_eq!(result["duplicated"], 0, "{result}; records in {records}");
    // Nor across a resume in the master's failover.
    assert_eq!(
        result["lost_failover_resumed"], 0,
        "{result}; records in {records}"
    );
}
