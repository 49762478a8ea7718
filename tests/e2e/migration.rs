//! The migration example (`examples/seed-chat`): a seed-style socket.io app
//! moved onto sockgate. Its real Node backend (`after/server.js`: webhooks and
//! one HTTP API call, no sockets) runs behind the gateway, with the page's
//! socket.io client and a mini-program's raw WebSocket client in one act room.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;

use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::util::api::API_KEY;
use crate::util::{Gateway, RawClient, SioClient, SioOptions, WAIT};

/// `webhooks.secret`: the backend refuses webhook calls without it.
const WEBHOOK_SECRET: &str = "seed-chat-test-webhook-secret";

/// What the backend answers a client that names no user.
const DENIED: &str = "connection denied: login first: send auth.user or ?user=";

/// `examples/seed-chat`
fn example_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/seed-chat")
}

/// The gateway and the example's backend, wired to each other. The Node
/// process is killed when this is dropped.
struct SeedChat {
    gateway: Gateway,
    /// Where the backend listens (its admin route is called directly).
    backend: SocketAddr,
    _node: Child,
}

impl SeedChat {
    async fn start() -> SeedChat {
        let dir = example_dir().join("after");
        assert!(
            dir.join("node_modules").is_dir(),
            "{}/node_modules is missing: run `npm ci` there",
            dir.display()
        );
        // A free port for the backend; the gateway's config must name it
        // before either process starts.
        let backend = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind a free port")
            .local_addr()
            .expect("local address");
        let config = format!(
            r#"
[auth]
webhook_url = "http://{backend}/sockgate/connect"

[webhooks]
secret = "{WEBHOOK_SECRET}"

[[webhooks.routes]]
events = ["joinAct", "sendMsg", "changeUserStatus"]
url = "http://{backend}/sockgate/events"

[api]
keys = ["{API_KEY}"]
"#
        );
        let gateway = Gateway::with_config(&config).await;

        // The backend needs the gateway's address for its HTTP API calls.
        let mut node = Command::new("node")
            .current_dir(dir)
            .arg("server.js")
            .env("HOST", "127.0.0.1")
            .env("PORT", backend.port().to_string())
            .env("SOCKGATE_URL", gateway.http_url())
            .env("SOCKGATE_API_KEY", API_KEY)
            .env("SOCKGATE_WEBHOOK_SECRET", WEBHOOK_SECRET)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn node (is Node.js installed?)");
        let mut lines = BufReader::new(node.stdout.take().expect("stdout")).lines();
        tokio::time::timeout(WAIT, async {
            while let Some(line) = lines.next_line().await.expect("read the backend's stdout") {
                if line.contains("listening on") {
                    return;
                }
            }
            panic!("the seed-chat backend exited before listening");
        })
        .await
        .expect("the seed-chat backend did not start listening");
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("[seed-chat] {line}");
            }
        });
        SeedChat {
            gateway,
            backend,
            _node: node,
        }
    }

    /// `POST {path}` to the backend; its status and JSON answer.
    async fn backend_post(&self, path: &str, body: &Value) -> (u16, Value) {
        let body = body.to_string();
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.backend,
            body.len()
        );
        let mut stream = TcpStream::connect(self.backend)
            .await
            .expect("connect to the backend");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut answer = String::new();
        tokio::time::timeout(WAIT, stream.read_to_string(&mut answer))
            .await
            .expect("the backend answered in time")
            .expect("read the backend's answer");
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP status in {answer:?}"));
        let body = serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()));
        (status, body)
    }
}

/// The page's socket.io client: `io(url, {auth: {user}})`, connected, and
/// the arguments of its `welcome`.
async fn page(chat: &SeedChat, user: &str) -> (SioClient, Vec<Value>) {
    let options = SioOptions {
        auth: Some(json!({"user": user})),
        ..SioOptions::default()
    };
    connect_welcomed(chat, options).await
}

/// Connects a socket.io client and waits for both its `connect` and its
/// `welcome`, in either order: socket.io-client delivers events that arrive
/// before the CONNECT ahead of its own `connect` event.
async fn connect_welcomed(chat: &SeedChat, options: SioOptions) -> (SioClient, Vec<Value>) {
    let mut client = SioClient::spawn(&chat.gateway, options).await;
    let mut welcome = None;
    while welcome.is_none() || client.id.is_empty() {
        let line = client.next().await;
        match line["type"].as_str() {
            Some("connect") => client.id = line["id"].as_str().unwrap_or_default().to_owned(),
            Some("event") if line["event"] == "welcome" => {
                welcome = Some(line["args"].as_array().cloned().unwrap_or_default());
            }
            _ => panic!("expected connect and welcome, got {line}"),
        }
    }
    (client, welcome.unwrap_or_default())
}

/// The mini-program: `wx.connectSocket({url: ".../ws?user=…"})`, raw protocol v1.
async fn mini_program(chat: &SeedChat, user: &str) -> RawClient {
    RawClient::connect(&chat.gateway.ws_url(&format!("/ws?user={user}"))).await
}

/// `{"op":"emit","event":…,"data":…,"id":n}`: the raw client's `socket.emit`.
fn emit(event: &str, data: Value) -> Value {
    json!({"op": "emit", "event": event, "data": data})
}

#[tokio::test]
async fn the_seed_chat_runs_on_sockgate_for_a_page_and_a_mini_program() {
    let chat = SeedChat::start().await;

    // Both get in through the connect webhook, and get its welcome first.
    let (mut alice, welcome) = page(&chat, "alice").await;
    assert_eq!(welcome, [json!({"user": "alice", "status": "online"})]);
    let mut bob = mini_program(&chat, "bob").await;
    assert_eq!(bob.open["user"], "bob", "{}", bob.open);
    let welcome = bob.recv_event().await;
    assert_eq!(welcome["event"], "welcome", "{welcome}");
    assert_eq!(welcome["data"], json!({"user": "bob", "status": "online"}));
    for (sid, user) in [(&alice.id, "alice"), (&bob.sid, "bob")] {
        let info = chat.gateway.api_get(&format!("/api/connections/{sid}")).await;
        assert_eq!(info.body["result"]["user"], user, "{:?}", info.body);
    }

    // Talking before joining: the backend's error is a failed ack.
    assert_eq!(
        alice
            .emit_with_ack("sendMsg", json!([{"actId": "act42", "text": "too early"}]))
            .await,
        [json!({"ok": false, "error": {"code": "forbidden", "message": "join the act first"}})]
    );
    let (ack, _) = bob
        .request(emit("sendMsg", json!({"actId": "act42", "text": "too early"})))
        .await;
    assert_eq!(ack["ok"], false, "{ack}");
    assert_eq!(ack["error"]["code"], "forbidden", "{ack}");

    // joinAct: the webhook answers {"join": [actId], "ack": [{"ok": true}]}.
    assert_eq!(
        alice.emit_with_ack("joinAct", json!(["act42"])).await,
        [json!({"ok": true})]
    );
    let (ack, _) = bob.request(emit("joinAct", json!("act42"))).await;
    assert_eq!(
        ack,
        json!({"op": "ack", "id": ack["id"], "ok": true, "data": {"ok": true}})
    );
    let room = chat.gateway.api_get("/api/rooms/act42").await;
    assert_eq!(room.body["result"]["count"], 2, "{:?}", room.body);

    // sendMsg from the mini-program reaches the page as `msg`, and the
    // sender too (io.to(actId).emit).
    let (ack, early) = bob
        .request(emit(
            "sendMsg",
            json!({"actId": "act42", "text": "hi from WeChat"}),
        ))
        .await;
    assert_eq!(
        (&ack["ok"], &ack["data"]),
        (&json!(true), &json!({"ok": true})),
        "{ack}"
    );
    let msg = alice.expect_event("msg").await;
    assert_eq!(msg.len(), 1, "{msg:?}");
    assert_eq!(msg[0]["from"], "bob");
    assert_eq!(msg[0]["text"], "hi from WeChat");
    assert!(msg[0]["at"].is_u64(), "{msg:?}");
    let own = match early.as_slice() {
        [] => bob.recv_event().await,
        [frame] => frame.clone(),
        more => panic!("one msg expected before the ack, got {more:?}"),
    };
    assert_eq!(
        own,
        json!({"op": "event", "room": "act42", "event": "msg", "data": msg[0]})
    );

    // …and from the page (no ack callback this time) to the mini-program.
    alice
        .emit(
            "sendMsg",
            json!([{"actId": "act42", "text": "hi from the browser"}]),
        )
        .await;
    let frame = bob.recv_event().await;
    assert_eq!(
        (&frame["room"], &frame["event"]),
        (&json!("act42"), &json!("msg")),
        "{frame}"
    );
    assert_eq!(frame["data"]["from"], "alice");
    assert_eq!(frame["data"]["text"], "hi from the browser");
    assert_eq!(alice.expect_event("msg").await, [frame["data"].clone()]);

    // changeUserStatus: acked with the status, broadcast to the others only.
    assert_eq!(
        alice
            .emit_with_ack("changeUserStatus", json!([{"status": "away"}]))
            .await,
        [json!({"ok": true, "status": "away"})]
    );
    let frame = bob.recv_event().await;
    assert_eq!(frame["event"], "userStatus", "{frame}");
    assert_eq!(frame["data"], json!({"user": "alice", "status": "away"}));
    let (ack, early) = bob
        .request(emit("changeUserStatus", json!({"status": "busy"})))
        .await;
    assert_eq!(
        ack,
        json!({"op": "ack", "id": ack["id"], "ok": true, "data": {"ok": true, "status": "busy"}})
    );
    assert!(early.is_empty(), "bob gets no userStatus of his own: {early:?}");
    assert_eq!(
        alice.expect_event("userStatus").await,
        [json!({"user": "bob", "status": "busy"})]
    );
    // The backend stored it: bob's second device is welcomed as busy.
    let mut bob_phone = mini_program(&chat, "bob").await;
    assert_eq!(
        bob_phone.recv_event().await["data"],
        json!({"user": "bob", "status": "busy"})
    );

    // The admin route calls POST /api/emit {"all": true}: everyone hears it.
    let (status, body) = chat
        .backend_post("/admin/announce", &json!({"text": "maintenance at 22:00"}))
        .await;
    assert_eq!((status, body), (200, json!({"ok": true})));
    let announce = json!({"op": "event", "event": "announce", "data": {"text": "maintenance at 22:00"}});
    assert_eq!(bob.recv_event().await, announce);
    assert_eq!(bob_phone.recv_event().await, announce);
    assert_eq!(
        alice.expect_event("announce").await,
        [json!({"text": "maintenance at 22:00"})]
    );

    bob.assert_silent().await;
    bob_phone.assert_silent().await;
    alice.assert_no_event().await;
}

#[tokio::test]
async fn only_clients_that_name_a_user_get_in() {
    let chat = SeedChat::start().await;

    let mut anonymous = SioClient::spawn(&chat.gateway, SioOptions::default()).await;
    assert_eq!(anonymous.expect_type("connect_error").await["message"], DENIED);

    let (mut ws, _) = tokio_tungstenite::connect_async(chat.gateway.ws_url("/ws"))
        .await
        .expect("the upgrade itself succeeds");
    let (code, reason) = close_of(&mut ws).await;
    assert_eq!((code, reason.as_str()), (CloseCode::from(4001), DENIED));

    // socket.io-client 2.x (what mini-program socket.io adapters run) has no
    // handshake auth: it names the user in the query, which the backend reads too.
    let (carol, welcome) = connect_welcomed(
        &chat,
        SioOptions {
            client: "v2",
            query: Some(json!({"user": "carol"})),
            ..SioOptions::default()
        },
    )
    .await;
    assert!(!carol.id.is_empty());
    assert_eq!(welcome, [json!({"user": "carol", "status": "online"})]);
}

#[test]
fn the_page_is_the_same_before_and_after() {
    let read_page = |side: &str| {
        let path = example_dir().join(side).join("public/index.html");
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    assert_eq!(
        read_page("before"),
        read_page("after"),
        "the migration guide promises the page works unchanged"
    );
}

/// Reads until the gateway closes the connection; its close code and reason.
async fn close_of(ws: &mut WebSocketStream<MaybeTlsStream<TcpStream>>) -> (CloseCode, String) {
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("closed in time")
        {
            Some(Ok(Message::Close(Some(frame)))) => return (frame.code, frame.reason.to_string()),
            Some(Ok(Message::Text(text))) => panic!("expected a refusal, got {text}"),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}
