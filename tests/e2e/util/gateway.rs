//! Starting the real `sockgate` binary on a free port.

use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running `sockgate` process, killed when dropped.
pub struct Gateway {
    _child: Child,
    /// `127.0.0.1:PORT` it listens on.
    pub addr: std::net::SocketAddr,
    _config: Option<tempfile_path::TempPath>,
}

/// The built binary: `$SOCKGATE_BIN`, or `target/<profile>/sockgate` next
/// to this test binary (`cargo build -p sockgate` puts it there).
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("SOCKGATE_BIN") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let bin = profile_dir.join("sockgate");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p sockgate` first",
        bin.display()
    );
    bin
}

impl Gateway {
    /// Starts the gateway on built-in defaults (except the port).
    pub async fn start() -> Gateway {
        Gateway::with_config("").await
    }

    /// Starts the gateway with a config file holding `toml`.
    pub async fn with_config(toml: &str) -> Gateway {
        let config = tempfile_path::TempPath::write(toml);
        let mut command = Command::new(binary());
        command
            .arg("--config")
            .arg(config.path())
            .arg("--listen")
            .arg("127.0.0.1:0")
            .env(
                "RUST_LOG",
                std::env::var("SOCKGATE_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("spawn sockgate");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let addr = tokio::time::timeout(super::WAIT, async {
            let mut said = Vec::new();
            while let Some(line) = lines.next_line().await.expect("read sockgate stderr") {
                if let Some(rest) = line.split("local_addr=").nth(1) {
                    let addr = rest.split_whitespace().next().expect("address");
                    return addr.parse().expect("listen address");
                }
                said.push(line);
            }
            panic!("sockgate exited before listening; it said:\n{}", said.join("\n"));
        })
        .await
        .expect("sockgate did not start listening");
        // Keep draining the log so the gateway never blocks on a full pipe;
        // echo it so a failing test shows what the gateway said.
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("[sockgate] {line}");
            }
        });
        Gateway {
            _child: child,
            addr,
            _config: Some(config),
        }
    }

    /// Sends SIGTERM and waits (boundedly) for the process to exit.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self._child.id().expect("still running").to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid}");
        tokio::time::timeout(super::WAIT * 2, self._child.wait())
            .await
            .expect("sockgate did not exit after SIGTERM")
            .expect("wait for sockgate")
    }

    /// Kills the process with SIGKILL: no goodbye to anyone.
    pub async fn kill(&mut self) {
        let _ = self._child.kill().await;
    }

    /// `GET path` on a fresh connection; the whole answer, head and body.
    pub async fn http_get(&self, path: &str) -> String {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        );
        crate::subprotocol::reqwest_like::raw_http(self, &request).await
    }

    /// The process id, for reading its memory use.
    pub fn pid(&self) -> u32 {
        self._child.id().expect("the gateway is running")
    }

    /// Resident memory of the process, in KiB (`VmRSS` in /proc).
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("read /proc status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc status")
    }

    /// `http://127.0.0.1:PORT`
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `ws://127.0.0.1:PORT<path>`
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }
}

/// A tiny self-deleting temp file (no extra crate needed).
mod tempfile_path {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU64, Ordering};

    pub struct TempPath(PathBuf);

    impl TempPath {
        pub fn write(contents: &str) -> TempPath {
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let name = format!(
                "sockgate-e2e-{}-{}.toml",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            let path = std::env::temp_dir().join(name);
            std::fs::write(&path, contents).expect("write temp config");
            TempPath(path)
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}
