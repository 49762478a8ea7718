//! `peer-tungstenite`: a bare tokio + tokio-tungstenite server implementing
//! sockgate's raw WebSocket contract (JSON text frames, see
//! `bench/peers/README.md`), as a baseline for the benchmark.
//!
//! ```text
//! peer-tungstenite [--port P] [--threads N]
//! ```
//!
//! Binds 127.0.0.1:P (P from `--port`, else `PORT`, else 0), prints
//! `listening <port>` once and serves until SIGTERM / SIGINT.
//!
//! Design (kept deliberately simple):
//! - rooms: one `std::sync::RwLock<HashMap<room, HashMap<conn id, Sender>>>`;
//!   the lock is never held across an await (fan-out uses `try_send`);
//! - every connection has a bounded mpsc (1024 frames) drained by a writer
//!   task that feeds up to 64 frames and then flushes once;
//! - an event frame is built once per publish as `Utf8Bytes` and cloned
//!   (a reference-count bump) into every receiver's queue; `data` is copied
//!   through verbatim as raw JSON;
//! - a receiver whose queue is full is closed as a slow consumer (close code
//!   1008), as sockgate does with its `limits.outbound_queue`.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// Frames queued per connection; a receiver whose queue is full is closed
/// as a slow consumer.
const QUEUE: usize = 1024;
/// Frames written between two flushes.
const BATCH: usize = 64;
/// How long a closing connection's writer may take to drain and close.
const WRITER_GRACE: Duration = Duration::from_secs(5);

type Tx = mpsc::Sender<Utf8Bytes>;

/// A connection as the rooms see it: its queue, and how to tell it that it
/// fell behind.
#[derive(Clone)]
struct Member {
    tx: Tx,
    slow: Arc<Notify>,
}

#[derive(Default)]
struct Rooms {
    map: RwLock<HashMap<String, HashMap<u64, Member>>>,
}

impl Rooms {
    fn join(&self, room: &str, conn: u64, member: &Member) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        match map.get_mut(room) {
            Some(members) => {
                members.insert(conn, member.clone());
            }
            None => {
                map.insert(room.to_owned(), HashMap::from([(conn, member.clone())]));
            }
        }
    }

    fn leave(&self, room: &str, conn: u64) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if let Some(members) = map.get_mut(room) {
            members.remove(&conn);
            if members.is_empty() {
                map.remove(room);
            }
        }
    }

    /// Queues `frame` for every member of `room` except `sender`.
    fn publish(&self, room: &str, sender: u64, frame: &Utf8Bytes) {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        if let Some(members) = map.get(room) {
            for (id, member) in members {
                if *id != sender {
                    if let Err(TrySendError::Full(_)) = member.tx.try_send(frame.clone()) {
                        member.slow.notify_one();
                    }
                    // Closed: that connection is going away, nothing to do.
                }
            }
        }
    }
}

/// One client frame; every field borrows from the received text.
#[derive(Deserialize)]
struct Request<'a> {
    #[serde(borrow)]
    op: Cow<'a, str>,
    #[serde(borrow, default)]
    room: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    event: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
}

/// The peer's command line, the same for every peer (see ../README.md).
#[derive(clap::Parser)]
struct Args {
    /// Port to listen on, on 127.0.0.1 (0: any free port).
    #[arg(long, env = "PORT", default_value_t = 0)]
    port: u16,
    /// Runtime worker threads (default: one per core it may run on).
    #[arg(long)]
    threads: Option<usize>,
}

fn main() {
    let args = <Args as clap::Parser>::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads {
        builder.worker_threads(n);
    }
    let runtime = builder.enable_all().build().expect("tokio runtime");
    if let Err(error) = runtime.block_on(serve(args.port)) {
        eprintln!("peer-tungstenite: {error}");
        std::process::exit(1);
    }
}

async fn serve(port: u16) -> std::io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening {}", listener.local_addr()?.port())?;
        out.flush()?;
    }
    let rooms = Arc::new(Rooms::default());
    let next_id = AtomicU64::new(1);
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let id = next_id.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(connection(stream, id, rooms.clone()));
            }
            _ = sigterm.recv() => return Ok(()),
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

async fn connection(stream: TcpStream, id: u64, rooms: Arc<Rooms>) {
    let _ = stream.set_nodelay(true);
    // The read buffer is the issue's 4 KiB; the write buffer keeps
    // tungstenite's default, so a batch of fed frames is one write.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let Ok(ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    let (mut sink, mut source) = ws.split();
    let (tx, mut rx) = mpsc::channel::<Utf8Bytes>(QUEUE);
    let member = Member {
        tx,
        slow: Arc::new(Notify::new()),
    };
    // Fired by the reader when this connection is closed as a slow consumer.
    let (stop_tx, mut stop_rx) = oneshot::channel::<()>();

    let writer = tokio::spawn(async move {
        let mut batch = Vec::with_capacity(BATCH);
        let mut stop_gone = false;
        loop {
            tokio::select! {
                biased;
                stop = &mut stop_rx, if !stop_gone => {
                    if stop.is_ok() {
                        let close = CloseFrame { code: CloseCode::Policy, reason: "slow consumer".into() };
                        let _ = sink.send(Message::Close(Some(close))).await;
                        return;
                    }
                    stop_gone = true; // reader ended normally: drain, then close
                }
                n = rx.recv_many(&mut batch, BATCH) => {
                    if n == 0 {
                        break;
                    }
                    for frame in batch.drain(..) {
                        if sink.feed(Message::Text(frame)).await.is_err() {
                            return;
                        }
                    }
                    if sink.flush().await.is_err() {
                        return;
                    }
                }
            }
        }
        let _ = sink.close().await;
    });

    let open = format!("{{\"op\":\"open\",\"sid\":\"{id:x}\"}}");
    let _ = member.tx.send(Utf8Bytes::from(open)).await;

    let mut joined: HashSet<String> = HashSet::new();
    let mut slow_consumer = false;
    loop {
        let message = tokio::select! {
            biased;
            () = member.slow.notified() => {
                slow_consumer = true;
                break;
            }
            message = source.next() => message,
        };
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            Some(Ok(_)) => continue,
        };
        let Ok(request) = serde_json::from_str::<Request<'_>>(text.as_str()) else {
            continue;
        };
        match (&*request.op, request.room.as_deref()) {
            ("join", Some(room)) => {
                if !joined.contains(room) {
                    rooms.join(room, id, &member);
                    joined.insert(room.to_owned());
                }
            }
            ("leave", Some(room)) => {
                if joined.remove(room) {
                    rooms.leave(room, id);
                }
            }
            ("publish", Some(room)) => {
                let Some(event) = request.event.as_deref() else {
                    continue;
                };
                let data = request.data.map_or("null", RawValue::get);
                let frame = event_frame(room, event, data);
                rooms.publish(room, id, &frame);
            }
            _ => continue,
        }
        if let Some(ack_id) = request.id {
            let ack = format!("{{\"op\":\"ack\",\"id\":{},\"ok\":true}}", ack_id.get());
            if member.tx.send(Utf8Bytes::from(ack)).await.is_err() {
                break;
            }
        }
    }

    for room in &joined {
        rooms.leave(room, id);
    }
    if slow_consumer {
        let _ = stop_tx.send(());
    } else {
        drop(stop_tx);
    }
    drop(member);
    // The writer may be stuck on a client that reads nothing: give it a
    // moment, then drop the socket.
    let mut writer = writer;
    if tokio::time::timeout(WRITER_GRACE, &mut writer).await.is_err() {
        writer.abort();
    }
}

/// `{"op":"event","room":R,"event":E,"data":D}`, built once per publish.
fn event_frame(room: &str, event: &str, data: &str) -> Utf8Bytes {
    let mut out = String::with_capacity(40 + room.len() + event.len() + data.len());
    out.push_str("{\"op\":\"event\",\"room\":");
    push_json_str(&mut out, room);
    out.push_str(",\"event\":");
    push_json_str(&mut out, event);
    out.push_str(",\"data\":");
    out.push_str(data);
    out.push('}');
    Utf8Bytes::from(out)
}

fn push_json_str(out: &mut String, s: &str) {
    // Serialising a &str into a String cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}
