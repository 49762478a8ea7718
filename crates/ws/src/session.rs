//! One raw WebSocket session: a reader that turns client frames into bus
//! calls, and a writer that drains the connection's bounded outbound queue,
//! pings, and closes. Both run in the connection's one task.
//!
//! The session is generic over `Sink + Stream` of tungstenite messages, so it
//! is unit-tested on in-memory duplex streams without a listener.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde_json::value::RawValue;
use sockgate_core::{
    new_resume_token, resume, Bus, BusError, ClientEvent, ConnMeta, Envelope, ErrorCode, EventHandler,
    Identity, RateVerdict, Route, Sid, TokenBucket, Who,
};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_util::task::AbortOnDropHandle;

use crate::control::{Control, Outbound, RawRecipient, Waiter};
use crate::protocol::{self, ClientFrame, RequestId};
use crate::queue::{self, Receiver, Sender, TrySendError};
use crate::{CloseReason, WsConfig};

mod heartbeat;

pub(crate) use heartbeat::Liveness;
use heartbeat::{Beat, Heartbeat};

/// Most queued messages written before one flush.
const WRITE_BATCH: usize = 64;

/// What a session starts from; boxed, so that the session's future does
/// not keep a dead copy of each argument for the connection's whole life.
struct SessionStart<S> {
    socket: S,
    sid: Sid,
    identity: Identity,
    meta: ConnMeta,
}

/// Runs a session to its end and says why it ended.
///
/// The client gets `{"op":"open",…}` first, is registered with the bus, and
/// is removed from it (leaving every room) before this returns.
pub fn run_session<'a, S>(
    socket: S,
    sid: Sid,
    identity: Identity,
    meta: ConnMeta,
    links: &'a SessionLinks,
    config: &'a WsConfig,
) -> impl Future<Output = CloseReason> + Send + 'a
where
    S: Stream<Item = Result<Message, tungstenite::Error>>
        + Sink<Message, Error = tungstenite::Error>
        + Send
        + 'static,
{
    let start = Box::new(SessionStart {
        socket,
        sid,
        identity,
        meta,
    });
    session(start, links, config)
}

async fn session<S>(start: Box<SessionStart<S>>, links: &SessionLinks, config: &WsConfig) -> CloseReason
where
    S: Stream<Item = Result<Message, tungstenite::Error>>
        + Sink<Message, Error = tungstenite::Error>
        + Send
        + 'static,
{
    let SessionStart {
        socket,
        sid,
        identity,
        meta,
    } = unbox(start);
    let (bus, events) = (links.bus.clone(), links.events.clone());
    let (queue, outbound, control) = enter(sid, identity, meta, links, config);

    let (sink, stream) = socket.split();
    // The writer is a task of its own, so that a delivery wakes only the
    // writer, not the reader too (as one task joining both would).
    let writer = Writer {
        sink,
        outbound,
        control: control.clone(),
        metrics: links.metrics.clone(),
        heartbeat: (config.ping_interval, config.ping_timeout),
        close_timeout: config.close_timeout,
    };
    let writer = AbortOnDropHandle::new(tokio::spawn(writer.run()));
    let reader = Reader {
        metrics: &links.metrics,
        rate: std::sync::Mutex::new(TokenBucket::new(config.messages_per_second, config.message_burst)),
        sid,
        bus: bus.as_ref(),
        shared_bus: &bus,
        events: events.as_ref(),
        queue,
        control: &control,
        config,
    };
    let session = async { tokio::join!(reader.run(stream), writer) };
    // On shutdown the session closes itself with 1001 "going away", drains,
    // and ends like any other.
    let shutdown = async {
        links.shutdown.cancelled().await;
        control.close(CloseReason::ServerShutdown);
        std::future::pending::<()>().await
    };
    tokio::select! {
        _ = session => {}
        () = shutdown => {}
    }
    depart(bus.as_ref(), events.as_ref(), sid, control.reason());
    control.reason()
}

/// Greets the client (open frame, then the backend's welcome events) and
/// registers it on the bus. A function of its own, so that the session's
/// future does not keep the identity for the connection's whole life.
fn enter(
    sid: Sid,
    identity: Identity,
    meta: ConnMeta,
    links: &SessionLinks,
    config: &WsConfig,
) -> (Sender<Outbound>, Receiver<Outbound>, Arc<Control>) {
    let (queue, outbound) = queue::bounded(config.outbound_queue);
    let control = Arc::new(Control::default());
    // When rooms keep a history, the client can come back with this.
    let resume_token = links.bus.recovers().then(new_resume_token);
    let open = protocol::open_frame(
        sid.as_str(),
        config.ping_interval.as_millis(),
        identity.user.as_deref(),
        resume_token.as_deref(),
    );
    // The queue is empty, so the open frame is first in line, followed by
    // the backend's welcome events, before the bus can deliver anything.
    let _ = queue.try_send(Outbound::Reply(open));
    for welcome in &identity.welcome {
        if let Ok(data) = RawValue::from_string(welcome.data.clone()) {
            let envelope = Envelope::new(None, welcome.event.as_str().into(), data);
            let _ = queue.try_send(Outbound::Reply(protocol::event_frame(&envelope)));
        }
    }
    links.bus.connect(
        sid,
        Route::Direct(Arc::new(RawRecipient {
            queue: queue.clone(),
            control: control.clone(),
            budget: links.budget.clone(),
        })),
        ConnMeta {
            user: identity.user,
            metadata: identity.metadata.map(Arc::new),
            resume_token,
            ..meta
        },
    );
    if !identity.rooms.is_empty() {
        // Rooms from the token were chosen by the backend: no room policy.
        let _ = links.bus.add_rooms(Who::Sid(sid), &identity.rooms);
    }
    (queue, outbound, control)
}

/// Moves a value out of its box and frees the box at once. (A box that is
/// destructured in place stays allocated until the end of its scope, which
/// for the session is the connection's whole life.)
#[allow(clippy::boxed_local)] // the box is the point: it must be freed here
fn unbox<T>(boxed: Box<T>) -> T {
    *boxed
}

/// Takes the connection off the bus (once) and tells the backend.
fn depart(bus: &dyn Bus, events: Option<&Arc<dyn EventHandler>>, sid: Sid, reason: CloseReason) {
    let Some(snapshot) = bus.connection(sid) else {
        return;
    };
    bus.disconnect(sid);
    if let Some(events) = events {
        events.on_disconnect(snapshot, reason.as_str());
    }
}

/// What a session is connected to, shared by every session of a front.
#[derive(Clone)]
pub struct SessionLinks {
    /// The bus the connection is registered on.
    pub bus: Arc<dyn Bus>,
    /// Where `emit`s go (event webhooks), if anywhere.
    pub events: Option<Arc<dyn EventHandler>>,
    /// Cancelled when the gateway shuts down.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// The front's counters.
    pub metrics: Arc<crate::WsMetrics>,
    /// Memory all raw outbound queues may hold (`limits.max_queued_bytes`).
    pub budget: Arc<crate::QueueBudget>,
}

struct Reader<'a> {
    metrics: &'a crate::WsMetrics,
    rate: std::sync::Mutex<TokenBucket>,
    sid: Sid,
    bus: &'a dyn Bus,
    /// The same bus, for tasks that outlive a frame (resumes).
    shared_bus: &'a Arc<dyn Bus>,
    events: Option<&'a Arc<dyn EventHandler>>,
    queue: Sender<Outbound>,
    control: &'a Arc<Control>,
    config: &'a WsConfig,
}

impl Reader<'_> {
    /// Reads until the client goes away. Once the session is closing, keeps
    /// draining (for at most `close_timeout`) so the client reads our close
    /// frame instead of a TCP reset.
    async fn run<St>(self, mut stream: St)
    where
        St: Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
    {
        // One registration with the close switch for the session's life,
        // not one per frame.
        let closed = self.control.closed(Waiter::Reader);
        tokio::pin!(closed);
        loop {
            let next = tokio::select! {
                biased;
                _ = &mut closed => break,
                next = stream.next() => next,
            };
            self.control.liveness.touch();
            let reason = match next {
                Some(Ok(Message::Text(text))) => {
                    self.metrics.frame_in(text.len());
                    self.on_text(&text);
                    continue;
                }
                Some(Ok(Message::Binary(_))) => {
                    self.reply(protocol::error_frame(
                        ErrorCode::Unsupported.as_str(),
                        "binary frames are not supported; send JSON text frames",
                    ));
                    continue;
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Close(_))) => CloseReason::ClientClosed,
                Some(Err(error)) => CloseReason::from_error(&error),
                None => CloseReason::ConnectionLost,
            };
            self.control.close(reason);
            if matches!(reason, CloseReason::ClientClosed | CloseReason::ConnectionLost) {
                return;
            }
            break;
        }
        // The session is over for everyone else right away, even while its
        // close handshake is still draining.
        depart(self.bus, self.events, self.sid, self.control.reason());
        let drain = async {
            while let Some(Ok(_) | Err(tungstenite::Error::Protocol(_) | tungstenite::Error::Capacity(_))) =
                stream.next().await
            {}
        };
        let _ = tokio::time::timeout(self.config.close_timeout, drain).await;
    }

    /// Applies the rate limit: an over-the-rate frame is refused (a failed
    /// ack when it has an id, else an error frame); a client that keeps
    /// going is closed with 1008.
    fn within_rate(&self, id: Option<&RawValue>) -> bool {
        let verdict = self
            .rate
            .lock()
            .map(|mut bucket| bucket.take(std::time::Instant::now()))
            .unwrap_or(RateVerdict::Allowed);
        match verdict {
            RateVerdict::Allowed => true,
            RateVerdict::Refused => {
                let message = "too many messages: slow down (limits.messages_per_second)";
                self.reply(protocol::failure(id, ErrorCode::RateLimited.as_str(), message));
                false
            }
            RateVerdict::Exceeded => {
                self.control.close(CloseReason::RateLimited);
                false
            }
        }
    }

    fn on_text(&self, text: &str) {
        let parsed = protocol::parse(text);
        let id = match &parsed {
            Ok((_, id)) => id.as_deref(),
            Err(error) => error.id.as_deref(),
        };
        if !self.within_rate(id) {
            return;
        }
        let (frame, id) = match parsed {
            Ok(parsed) => parsed,
            Err(error) => {
                self.reply(protocol::failure(
                    error.id.as_deref(),
                    error.code.as_str(),
                    &error.message,
                ));
                return;
            }
        };
        if let ClientFrame::Publish { data, .. } | ClientFrame::Emit { data, .. } = &frame {
            if protocol::binary_objects(data) > self.config.max_binary_attachments {
                let message = format!(
                    "more than {} binary attachments (limits.max_binary_attachments)",
                    self.config.max_binary_attachments
                );
                let code = ErrorCode::LimitExceeded.as_str();
                self.reply(protocol::failure(id.as_deref(), code, &message));
                return;
            }
        }
        let result = match frame {
            ClientFrame::Join { room } => self.bus.join(self.sid, &room).map(drop),
            ClientFrame::Leave { room } => self.bus.leave(self.sid, &room).map(drop),
            ClientFrame::Publish { room, event, data } => {
                self.bus.publish(Some(self.sid), &room, &event, data)
            }
            ClientFrame::Ping => {
                self.reply(protocol::PONG_FRAME.to_owned());
                Ok(())
            }
            ClientFrame::Auth => {
                let message = "already connected: send {\"op\":\"auth\"} as the first frame (auth.required) or the token as ?token=";
                self.reply(protocol::failure(
                    id.as_deref(),
                    ErrorCode::BadRequest.as_str(),
                    message,
                ));
                return;
            }
            ClientFrame::Emit { event, data } => {
                self.forward(event, &data, id);
                return;
            }
            ClientFrame::Resume(request) => {
                self.resume(request, id);
                return;
            }
        };
        self.answer(id, result);
    }

    /// Acks a request that carried an id; reports a failure of one that did not.
    fn answer(&self, id: Option<RequestId>, result: Result<(), BusError>) {
        let reply = match (id, result) {
            (Some(id), Ok(())) => protocol::ack_ok(&id),
            (id, Err(error)) => protocol::failure(id.as_deref(), error.code().as_str(), &error.to_string()),
            (None, Ok(())) => return,
        };
        self.reply(reply);
    }

    fn reply(&self, frame: String) {
        reply(&self.queue, self.control, frame);
    }

    /// Resumes in a task of its own (a cluster may fetch the missed events
    /// from Redis); the missed events are queued, then the ack with the
    /// report, while this client's other frames go on being read.
    fn resume(&self, request: sockgate_core::ResumeRequest, id: Option<RequestId>) {
        let user = self.bus.connection(self.sid).and_then(|c| c.meta.user);
        let (bus, queue, control, sid) = (
            self.shared_bus.clone(),
            self.queue.clone(),
            self.control.clone(),
            self.sid,
        );
        tokio::spawn(async move {
            let report = resume(bus.as_ref(), sid, user.as_deref(), &request).await;
            if let Some(id) = id {
                reply(&queue, &control, protocol::ack_with_data(&id, &report));
            }
        });
    }

    /// Hands an `emit` to the backend; its answer becomes the ack later,
    /// while this client's other frames go on being read.
    fn forward(&self, event: String, data: &RawValue, id: Option<RequestId>) {
        let Some(events) = self.events else {
            let message = format!("no handler for event {event:?}");
            self.reply(protocol::failure(id.as_deref(), "no_handler", &message));
            return;
        };
        let arg = serde_json::from_str(data.get()).unwrap_or(serde_json::Value::Null);
        let call = events.on_event(ClientEvent {
            sid: self.sid,
            event,
            args: vec![arg],
        });
        let (queue, control) = (self.queue.clone(), self.control.clone());
        tokio::spawn(async move {
            let frame = match (call.await, id) {
                (Ok(args), Some(id)) => protocol::ack_with_args(&id, &args),
                (Ok(_), None) => return,
                (Err(error), id) => protocol::failure(id.as_deref(), error.code(), &error.to_string()),
            };
            reply(&queue, &control, frame);
        });
    }
}

/// Queues a frame for this client only; a full queue means a slow consumer.
fn reply(queue: &Sender<Outbound>, control: &Control, frame: String) {
    if let Err(TrySendError::Full) = queue.try_send(Outbound::Reply(frame)) {
        control.close(CloseReason::SlowConsumer);
    }
}

/// The writer task: writes queued frames in batches, pings on schedule,
/// and sends the close frame once the session starts closing.
struct Writer<Si> {
    sink: Si,
    outbound: Receiver<Outbound>,
    control: Arc<Control>,
    metrics: Arc<crate::WsMetrics>,
    /// `raw.ping_interval` and `raw.ping_timeout`.
    heartbeat: (Duration, Duration),
    close_timeout: Duration,
}

impl<Si> Writer<Si>
where
    Si: Sink<Message, Error = tungstenite::Error> + Unpin,
{
    async fn run(self) {
        let Writer {
            mut sink,
            mut outbound,
            control,
            metrics,
            heartbeat: (ping_interval, ping_timeout),
            close_timeout,
        } = self;
        let (mut heartbeat, timer) = Heartbeat::new(ping_interval, ping_timeout);
        tokio::pin!(timer);
        // One registration with the close switch for the session's life,
        // not one per wake-up.
        let closed = control.closed(Waiter::Writer);
        tokio::pin!(closed);
        let reason = loop {
            tokio::select! {
                biased;
                reason = &mut closed => break reason,
                first = outbound.recv() => {
                    let Some(first) = first else { break control.reason() };
                    let written = tokio::select! {
                        biased;
                        reason = &mut closed => break reason,
                        written = write_batch(&mut sink, first, &mut outbound, &metrics) => written,
                    };
                    if written.is_err() {
                        control.close(CloseReason::ConnectionLost);
                    }
                }
                () = &mut timer => match heartbeat.fired(timer.as_mut(), &control.liveness) {
                    Beat::Ping => {
                        if sink.send(Message::Ping(Default::default())).await.is_err() {
                            control.close(CloseReason::ConnectionLost);
                        }
                    }
                    Beat::Alive => {}
                    Beat::Dead => control.close(CloseReason::PingTimeout),
                },
            }
        };
        if let Some(frame) = reason.close_frame() {
            let _ = tokio::time::timeout(close_timeout, sink.send(Message::Close(Some(frame)))).await;
        }
        let _ = tokio::time::timeout(close_timeout, sink.close()).await;
    }
}

async fn write_batch<Si>(
    sink: &mut Si,
    first: Outbound,
    outbound: &mut Receiver<Outbound>,
    metrics: &crate::WsMetrics,
) -> Result<(), tungstenite::Error>
where
    Si: Sink<Message, Error = tungstenite::Error> + Unpin,
{
    let counted = |message: Message| {
        metrics.frame_out(message.len());
        message
    };
    sink.feed(counted(into_message(first))).await?;
    for _ in 1..WRITE_BATCH {
        match outbound.try_recv() {
            Some(next) => sink.feed(counted(into_message(next))).await?,
            None => break,
        }
    }
    sink.flush().await
}

fn into_message(outbound: Outbound) -> Message {
    match outbound {
        Outbound::Event(frame) => Message::Text(frame),
        Outbound::Reply(text) => Message::Text(text.into()),
    }
}

#[cfg(test)]
mod tests;
