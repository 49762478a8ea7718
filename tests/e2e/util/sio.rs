//! A real socket.io client (the official `socket.io-client`, v4 or v2) run
//! by Node from `tests/js/sio-peer.js`, driven over JSON lines.

use std::path::PathBuf;
use std::process::Stdio;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::{Gateway, QUIET, WAIT};

/// `tests/js`, where the Node peers and their lockfile live.
pub fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js")
}

/// How to start a socket.io client.
#[derive(Debug, Clone)]
pub struct SioOptions {
    /// `v4` (socket.io-client 4.8) or `v2` (2.5, engine.io v3).
    pub client: &'static str,
    /// `websocket`, `polling` or `polling,websocket`.
    pub transports: &'static str,
    /// Namespace.
    pub namespace: &'static str,
    /// The engine's request path.
    pub path: &'static str,
    /// Connect here instead of the gateway itself (e.g. through nginx).
    pub url: Option<String>,
    /// Accept any TLS certificate (a test's self-signed one).
    pub insecure_tls: bool,
    /// `Sec-WebSocket-Protocol` offers, comma separated.
    pub protocols: Option<&'static str>,
    /// Commands run right after `io()`, before the connection is up.
    pub emit_on_start: Option<Value>,
    /// The handshake `auth` payload (v4 only).
    pub auth: Option<Value>,
    /// Handshake query parameters.
    pub query: Option<Value>,
    /// Reconnect after a drop, as browsers do by default.
    pub reconnect: bool,
}

impl Default for SioOptions {
    fn default() -> Self {
        SioOptions {
            client: "v4",
            transports: "websocket",
            namespace: "/",
            path: "/socket.io/",
            url: None,
            insecure_tls: false,
            protocols: None,
            emit_on_start: None,
            auth: None,
            query: None,
            reconnect: false,
        }
    }
}

/// One socket.io client process, killed when dropped.
pub struct SioClient {
    _child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    /// Lines read while waiting for another one, kept in order.
    pending: std::collections::VecDeque<Value>,
    next_ack: u64,
    /// `socket.id` once connected.
    pub id: String,
    /// Transport reported at connect time.
    pub transport: String,
}

impl SioClient {
    /// Starts a v4 websocket client and waits until it is connected.
    pub async fn connect(gateway: &Gateway) -> SioClient {
        SioClient::connect_with(gateway, SioOptions::default()).await
    }

    /// Starts a client and waits until it is connected.
    pub async fn connect_with(gateway: &Gateway, options: SioOptions) -> SioClient {
        let mut client = SioClient::spawn(gateway, options).await;
        let connect = client.expect_type("connect").await;
        client.id = connect["id"].as_str().unwrap_or_default().to_owned();
        client.transport = connect["transport"].as_str().unwrap_or_default().to_owned();
        client
    }

    /// Starts a client without waiting for the connection.
    pub async fn spawn(gateway: &Gateway, options: SioOptions) -> SioClient {
        let mut command = Command::new("node");
        command
            .current_dir(js_dir())
            .arg("sio-peer.js")
            .args([
                "--url",
                &options.url.clone().unwrap_or_else(|| gateway.http_url()),
            ])
            .args(["--client", options.client])
            .args(["--transports", options.transports])
            .args(["--ns", options.namespace])
            .args(["--path", options.path]);
        if options.insecure_tls {
            command.env("NODE_TLS_REJECT_UNAUTHORIZED", "0");
        }
        if let Some(protocols) = options.protocols {
            command.args(["--protocols", protocols]);
        }
        if let Some(auth) = &options.auth {
            command.args(["--auth", &auth.to_string()]);
        }
        if let Some(query) = &options.query {
            command.args(["--query", &query.to_string()]);
        }
        if options.reconnect {
            command.arg("--reconnect");
        }
        if let Some(commands) = &options.emit_on_start {
            command.args(["--emit-on-start", &commands.to_string()]);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn node (is Node.js installed and tests/js set up with npm ci?)");
        let stdin = child.stdin.take().expect("stdin");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut client = SioClient {
            _child: child,
            stdin,
            lines,
            pending: Default::default(),
            next_ack: 0,
            id: String::new(),
            transport: String::new(),
        };
        client.expect_type("ready").await;
        client
    }

    /// The next line the peer printed that no wait has taken yet.
    pub async fn next(&mut self) -> Value {
        if let Some(line) = self.pending.pop_front() {
            return line;
        }
        self.read_line().await
    }

    async fn read_line(&mut self) -> Value {
        let line = tokio::time::timeout(WAIT, self.lines.next_line())
            .await
            .expect("the socket.io peer printed nothing in time")
            .expect("read peer stdout")
            .expect("the socket.io peer exited");
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("peer printed non-JSON: {line}"))
    }

    /// The first line (pending or new) matching `wanted`; other lines stay
    /// pending, in order. `what` names the wait in failure messages.
    async fn take(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        if let Some(index) = self.pending.iter().position(&wanted) {
            return self.pending.remove(index).expect("index is in range");
        }
        loop {
            let line = match tokio::time::timeout(WAIT, self.lines.next_line()).await {
                Ok(Ok(Some(line))) => serde_json::from_str(&line).unwrap_or(Value::String(line)),
                _ => panic!(
                    "the socket.io peer printed no {what} in time; it printed {:?}",
                    self.pending
                ),
            };
            if wanted(&line) {
                return line;
            }
            assert_ne!(
                line["type"], "error",
                "peer error while waiting for {what}: {line}"
            );
            self.pending.push_back(line);
        }
    }

    /// The first line of type `kind`.
    pub async fn expect_type(&mut self, kind: &str) -> Value {
        self.take(kind, |line| line["type"] == kind).await
    }

    /// The first event named `event`; returns its arguments.
    pub async fn expect_event(&mut self, event: &str) -> Vec<Value> {
        let line = self
            .take(event, |line| line["type"] == "event" && line["event"] == event)
            .await;
        line["args"].as_array().cloned().unwrap_or_default()
    }

    /// An event already printed or arriving within a moment, if any.
    pub async fn next_event_now(&mut self) -> Option<Value> {
        if let Some(index) = self.pending.iter().position(|line| line["type"] == "event") {
            return self.pending.remove(index);
        }
        loop {
            let line = match tokio::time::timeout(QUIET, self.lines.next_line()).await {
                Ok(Ok(Some(line))) => serde_json::from_str::<Value>(&line).ok()?,
                _ => return None,
            };
            if line["type"] == "event" {
                return Some(line);
            }
            self.pending.push_back(line);
        }
    }

    /// Asserts no event is pending or arrives for a short while.
    pub async fn assert_no_event(&mut self) {
        if let Some(line) = self.pending.iter().find(|line| line["type"] == "event") {
            panic!("expected no event, got {line}");
        }
        if let Ok(Ok(Some(line))) = tokio::time::timeout(QUIET, self.lines.next_line()).await {
            let line: Value = serde_json::from_str(&line).unwrap_or_default();
            assert_ne!(line["type"], "event", "expected no event, got {line}");
            self.pending.push_back(line);
        }
    }

    async fn command(&mut self, command: Value) {
        let mut line = command.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .await
            .expect("write to peer");
        self.stdin.flush().await.expect("flush peer stdin");
    }

    /// `socket.emit(event, ...args)` without an ack.
    pub async fn emit(&mut self, event: &str, args: Value) {
        self.command(json!({"cmd": "emit", "event": event, "args": args}))
            .await;
    }

    /// `socket.emit(event, ...args, ack)`; returns the ack's arguments.
    pub async fn emit_with_ack(&mut self, event: &str, args: Value) -> Vec<Value> {
        self.next_ack += 1;
        let id = self.next_ack;
        self.command(json!({"cmd": "emit", "event": event, "args": args, "ack": id}))
            .await;
        let line = self
            .take(&format!("ack {id}"), |line| {
                line["type"] == "ack" && line["id"] == id
            })
            .await;
        line["args"].as_array().cloned().unwrap_or_default()
    }

    /// Joins a room and asserts the ack is `{ok:true}`.
    pub async fn join(&mut self, room: &str) {
        let ack = self.emit_with_ack("join", json!([room])).await;
        assert_eq!(ack, [json!({"ok": true})], "join {room}");
    }

    /// Publishes and asserts the ack is `{ok:true}`.
    pub async fn publish(&mut self, room: &str, event: &str, data: Value) {
        let ack = self
            .emit_with_ack("publish", json!([{"room": room, "event": event, "data": data}]))
            .await;
        assert_eq!(ack, [json!({"ok": true})], "publish to {room}");
    }

    /// Publishes every one of `args` (`{room, event, args}`) and asserts
    /// the ack is `{ok:true}`; `{"$bytes"}` objects are sent as binary.
    pub async fn publish_args(&mut self, room: &str, event: &str, args: Value) {
        let ack = self
            .emit_with_ack("publish", json!([{"room": room, "event": event, "args": args}]))
            .await;
        assert_eq!(ack, [json!({"ok": true})], "publish to {room}");
    }

    /// Asks the peer for its current transport.
    pub async fn current_transport(&mut self) -> String {
        self.command(json!({"cmd": "transport"})).await;
        self.expect_type("transport").await["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Disconnects the socket (the process stays until dropped).
    pub async fn disconnect(&mut self) {
        self.command(json!({"cmd": "disconnect"})).await;
    }
}
