//! The raw WebSocket side of the soak fleet: receivers that join their
//! rooms, drop at random and come back with sockgate's `resume` (token plus
//! the position of the last event per room), and publishers that number
//! their events per room.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::tally::{ClientLog, Latencies};
use super::Phase;

type Socket = WebSocketStream<TcpStream>;

/// Microseconds since the Unix epoch: what publishers stamp and receivers
/// subtract (one machine, one clock).
pub(crate) fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Opens a raw connection to `url` (`ws://host:port/ws`) and returns it with
/// its `open` frame.
async fn open(url: &str) -> anyhow::Result<(Socket, Value)> {
    let authority = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .context("ws:// url")?;
    let tcp = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(authority)).await??;
    tcp.set_nodelay(true)?;
    let (mut socket, _) =
        tokio::time::timeout(Duration::from_secs(5), tokio_tungstenite::client_async(url, tcp))
            .await
            .context("upgrade timed out")??;
    let open = tokio::time::timeout(Duration::from_secs(10), next_json(&mut socket))
        .await
        .context("no open frame")??
        .context("closed before the open frame")?;
    if open["op"] != "open" {
        bail!("first frame is not open: {open}");
    }
    Ok((socket, open))
}

/// The next JSON text frame, `None` when the connection ended.
async fn next_json(socket: &mut Socket) -> anyhow::Result<Option<Value>> {
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => return Ok(Some(serde_json::from_str(text.as_str())?)),
            Some(Ok(Message::Close(_))) | None => return Ok(None),
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(error.into()),
        }
    }
}

/// What one raw receiver is told.
pub(crate) struct ReceiverPlan {
    /// Its index in the fleet (picks its first node).
    pub(crate) index: usize,
    /// Every node's raw URL; reconnects pick one at random.
    pub(crate) urls: Arc<Vec<String>>,
    /// Rooms it joins.
    pub(crate) rooms: Vec<String>,
    /// Mean time between its own drops; `None`: it never drops by itself.
    pub(crate) drop_every: Option<Duration>,
    /// The soak's phase.
    pub(crate) phase: watch::Receiver<Phase>,
}

/// One receiver's state across its connections.
struct Receiver {
    log: ClientLog,
    latencies: Latencies,
    token: Option<String>,
    positions: HashMap<String, (String, u64)>,
    /// Its rooms were joined once (later connections resume them).
    joined: bool,
    /// The current connection got its `open` frame.
    opened: bool,
}

impl Receiver {
    /// Handles an event frame; `live` when it is not a replay.
    fn on_event(&mut self, frame: &Value, live: bool) {
        let (Some(room), Some(seq)) = (frame["room"].as_str(), frame["data"]["s"].as_u64()) else {
            return;
        };
        self.log.received += 1;
        if let (Some(epoch), Some(offset)) = (frame["epoch"].as_str(), frame["offset"].as_u64()) {
            self.positions.insert(room.to_owned(), (epoch.to_owned(), offset));
        }
        let conn = self.log.conn;
        self.log
            .rooms
            .entry(room.to_owned())
            .or_default()
            .receive(conn, seq);
        if live {
            if let Some(sent) = frame["data"]["t"].as_u64() {
                self.latencies.record(now_us().saturating_sub(sent));
            }
        }
    }
}

/// Runs one raw receiver until the soak is over; returns what it got.
pub(crate) async fn receiver(mut plan: ReceiverPlan) -> (ClientLog, Latencies) {
    let mut me = Receiver {
        log: ClientLog {
            kind: "raw".into(),
            rooms: plan
                .rooms
                .iter()
                .map(|r| (r.clone(), Default::default()))
                .collect(),
            ..ClientLog::default()
        },
        latencies: Latencies::default(),
        token: None,
        positions: HashMap::new(),
        joined: false,
        opened: false,
    };
    let mut url = plan.urls[plan.index % plan.urls.len()].clone();
    // Bounded: a reconnect at most every 100 ms over a long soak.
    for _attempt in 0..100_000 {
        if *plan.phase.borrow() == Phase::Done {
            break;
        }
        // A failed connect or resume is one more attempt; `true`: the soak is over.
        if let Ok(true) = session(&mut me, &url, &mut plan).await {
            break;
        }
        if *plan.phase.borrow() == Phase::Done {
            break;
        }
        let pause = Duration::from_millis(rand::rng().random_range(100..600));
        tokio::time::sleep(pause).await;
        url = plan.urls[rand::rng().random_range(0..plan.urls.len())].clone();
        if std::mem::take(&mut me.opened) {
            me.log.conn += 1;
            me.log.reconnects += 1;
        }
    }
    (me.log, me.latencies)
}

/// One connection's life: open, join or resume, receive until it drops
/// (`Ok(false)`) or the soak is over (`Ok(true)`).
async fn session(me: &mut Receiver, url: &str, plan: &mut ReceiverPlan) -> anyhow::Result<bool> {
    let (mut socket, open) = open(url).await?;
    me.opened = true;
    me.log.opened_ms.push(now_us() / 1000);
    me.log.opened_on.push(url.to_owned());
    let fresh = !me.joined;
    let mut next_id = 1u64;
    let mut joins = Vec::new();
    if fresh {
        joins.clone_from(&plan.rooms);
    } else {
        let rooms: serde_json::Map<String, Value> = me
            .positions
            .iter()
            .map(|(room, (epoch, offset))| (room.clone(), json!({"epoch": epoch, "offset": offset})))
            .collect();
        let mut request = json!({"op": "resume", "rooms": rooms, "id": next_id});
        if let Some(token) = &me.token {
            request["token"] = json!(token);
        }
        socket.send(Message::Text(request.to_string().into())).await?;
        let ack = loop {
            let Ok(frame) = tokio::time::timeout(Duration::from_secs(30), next_json(&mut socket)).await
            else {
                me.log.resume_timeouts += 1;
                bail!("no resume ack in 30 s");
            };
            let frame = frame?.context("closed before the resume ack")?;
            match frame["op"].as_str() {
                Some("event") => me.on_event(&frame, false),
                Some("ack") if frame["id"] == next_id => break frame,
                _ => {}
            }
        };
        next_id += 1;
        let session = ack["data"]["session"].as_bool().unwrap_or(false);
        if session {
            me.log.sessions_found += 1;
        }
        let conn = me.log.conn;
        for room in &plan.rooms {
            let answer = &ack["data"]["rooms"][room];
            if answer.get("gap").is_some() || answer.get("error").is_some() {
                me.log.rooms.entry(room.clone()).or_default().gap(conn);
            }
            if answer.get("error").is_some() || (answer.is_null() && !session) {
                joins.push(room.clone());
            }
        }
    }
    for room in joins {
        let id = next_id;
        next_id += 1;
        let request = json!({"op": "join", "room": room, "id": id});
        socket.send(Message::Text(request.to_string().into())).await?;
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(30), next_json(&mut socket))
                .await
                .context("no join ack")??
                .context("closed before the join ack")?;
            match frame["op"].as_str() {
                Some("event") => me.on_event(&frame, true),
                Some("ack") if frame["id"] == id => break,
                _ => {}
            }
        }
    }
    me.joined = true;
    me.token = open["resume"].as_str().map(str::to_owned);
    let drop_at = plan.drop_every.map(|mean| {
        let factor = rand::rng().random_range(0.5..1.5);
        tokio::time::Instant::now() + mean.mul_f64(factor)
    });
    let drop_timer = async {
        match drop_at {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(drop_timer);
    loop {
        tokio::select! {
            frame = next_json(&mut socket) => match frame? {
                Some(frame) => {
                    if frame["op"] == "event" {
                        me.on_event(&frame, true);
                    }
                }
                None => return Ok(false),
            },
            () = &mut drop_timer, if *plan.phase.borrow() == Phase::Run => {
                // Drop the link without a goodbye, as a phone going into a tunnel.
                drop(socket);
                return Ok(false);
            }
            changed = plan.phase.changed() => {
                if changed.is_err() || *plan.phase.borrow() == Phase::Done {
                    let _ = socket.close(None).await;
                    return Ok(true);
                }
            }
        }
    }
}

/// What the publishers sent, per room, and how it went.
#[derive(Debug, Default)]
pub(crate) struct Published {
    /// Room → last sequence number sent.
    pub(crate) last: HashMap<String, u64>,
    /// Room → when each sequence number was sent (ms since the epoch;
    /// number `n` at index `n - 1`).
    pub(crate) sent_ms: HashMap<String, Vec<u64>>,
    /// Publishes acked `ok`.
    pub(crate) acked: u64,
    /// Publishes refused or never acked.
    pub(crate) unacked: u64,
    /// Times a publisher had to reconnect.
    pub(crate) reconnects: u64,
}

/// Publishes `rate` events per second, round robin over `rooms`, through
/// `url`, until the phase leaves `Run`; each event's data is
/// `{"s": <sequence number in its room>, "t": <µs since the epoch>}`.
pub(crate) async fn publisher(
    url: String,
    rooms: Vec<String>,
    rate: f64,
    mut phase: watch::Receiver<Phase>,
) -> Published {
    let mut published = Published::default();
    let mut seqs: HashMap<String, u64> = rooms.iter().map(|r| (r.clone(), 0)).collect();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.01)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut turn = 0usize;
    let mut in_flight: HashMap<u64, Instant> = HashMap::new();
    let mut next_id = 0u64;
    'connect: for _attempt in 0..10_000 {
        if *phase.borrow() != Phase::Run {
            break;
        }
        let Ok((mut socket, _)) = open(&url).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    let room = &rooms[turn % rooms.len()];
                    turn += 1;
                    let seq = seqs.get_mut(room).expect("a room of this publisher");
                    *seq += 1;
                    published.sent_ms.entry(room.clone()).or_default().push(now_us() / 1000);
                    next_id += 1;
                    let frame = json!({"op": "publish", "room": room, "event": "tick",
                        "data": {"s": *seq, "t": now_us()}, "id": next_id});
                    in_flight.insert(next_id, Instant::now());
                    if socket.send(Message::Text(frame.to_string().into())).await.is_err() {
                        published.reconnects += 1;
                        continue 'connect;
                    }
                }
                frame = next_json(&mut socket) => match frame {
                    Ok(Some(frame)) if frame["op"] == "ack" => {
                        if let Some(id) = frame["id"].as_u64() {
                            if in_flight.remove(&id).is_some() {
                                if frame["ok"] == true { published.acked += 1 } else { published.unacked += 1 }
                            }
                        }
                    }
                    Ok(Some(_)) => {}
                    _ => {
                        published.reconnects += 1;
                        continue 'connect;
                    }
                },
                changed = phase.changed() => {
                    if changed.is_err() || *phase.borrow() != Phase::Run {
                        // Give the last acks a moment (bounded).
                        let until = tokio::time::Instant::now() + Duration::from_secs(5);
                        while !in_flight.is_empty() {
                            match tokio::time::timeout_at(until, next_json(&mut socket)).await {
                                Ok(Ok(Some(frame))) if frame["op"] == "ack" => {
                                    if let Some(id) = frame["id"].as_u64() {
                                        if in_flight.remove(&id).is_some() {
                                            if frame["ok"] == true { published.acked += 1 } else { published.unacked += 1 }
                                        }
                                    }
                                }
                                Ok(Ok(Some(_))) => {}
                                _ => break,
                            }
                        }
                        let _ = socket.close(None).await;
                        break 'connect;
                    }
                }
            }
        }
    }
    published.unacked += in_flight.len() as u64;
    published.last = seqs;
    published
}
