//! The websocket transport: ONE task per session reads the socket, writes
//! the outbound queue and keeps the heartbeat, in one `select!`; and the
//! upgrade of a polling session (`2probe` → `3probe`, a noop to the pending
//! poll, `5`).
//!
//! Why one task: a task per direction (as engineioxide runs reader, writer
//! and heartbeat) costs a task allocation and a waker each, for every idle
//! connection. Here a delivery wakes the one task, which writes what is
//! queued with `feed` and one `flush` per batch; while it writes it does not
//! read, so a client that does not read backs up into the queue, where it
//! is detected as a slow consumer.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use engineioxide_core::{Packet, ProtocolVersion, Str};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use sockgate_queue::Receiver;
use tokio::time::{sleep_until, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};

use crate::engine::Engine;
use crate::frame::{Frame, Kind};
use crate::heartbeat::{Beat, Heartbeat};
use crate::inbound::{on_packet, Inbound};
use crate::session::{State, POSTING};
use crate::{CloseReason, EngineHandler, Session};

/// Most queued frames written before one flush.
const WRITE_BATCH: usize = 64;
/// How long the close packet and close frame may take to go out.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// What the websocket task works on.
pub(crate) trait Socket:
    Stream<Item = Result<WsMessage, tungstenite::Error>>
    + Sink<WsMessage, Error = tungstenite::Error>
    + Unpin
    + Send
{
}

impl<S> Socket for S where
    S: Stream<Item = Result<WsMessage, tungstenite::Error>>
        + Sink<WsMessage, Error = tungstenite::Error>
        + Unpin
        + Send
{
}

/// Runs a session opened on websocket (its open packet is queued) to its end.
pub(crate) async fn run<H, S>(
    engine: &Engine<H>,
    session: &Arc<Session<H::Data>>,
    mut socket: S,
    mut rx: Receiver<Frame>,
) where
    H: EngineHandler,
    S: Socket,
{
    serve(engine, session, &mut socket, &mut rx, None).await;
    end(engine, session, &mut socket, &mut rx).await;
}

/// Probes and completes the upgrade of a polling session (its state is
/// `Upgrading`), then runs it on websocket. An upgrade that fails or times
/// out leaves the session on polling.
pub(crate) async fn upgrade<H, S>(engine: &Engine<H>, session: &Arc<Session<H::Data>>, mut socket: S)
where
    H: EngineHandler,
    S: Socket,
{
    let timeout = engine.shared.config.upgrade_timeout;
    let upgraded = match tokio::time::timeout(timeout, probe(session, &mut socket)).await {
        Ok(Ok(())) => session.transition(State::Upgrading, State::Websocket),
        Ok(Err(())) | Err(_) => false,
    };
    if !upgraded {
        tracing::debug!(sid = %session.id(), "upgrade failed");
        session.transition(State::Upgrading, State::Polling);
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.close()).await;
        return;
    }
    engine.shared.moved_to_websocket();
    // The pending poll returns (with a noop), the timer task steps down.
    session.queue().wake_receiver();
    session.driver.notify_one();
    let Some((mut rx, held)) = take_receiver(session).await else {
        session.close(CloseReason::TransportError);
        end_without_queue(engine, session, &mut socket).await;
        return;
    };
    tracing::debug!(sid = %session.id(), "upgraded to websocket");
    serve(engine, session, &mut socket, &mut rx, held).await;
    end(engine, session, &mut socket, &mut rx).await;
}

/// Waits for `2probe` (answered `3probe`, then a noop queued for the
/// pending poll) and `5`. Anything else, or a closed session, fails it.
async fn probe<D, S: Socket>(session: &Session<D>, socket: &mut S) -> Result<(), ()> {
    loop {
        let message = tokio::select! {
            () = session.closed() => return Err(()),
            message = socket.next() => message,
        };
        let text = match message {
            Some(Ok(WsMessage::Text(text))) => text,
            Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
            _ => return Err(()),
        };
        match Packet::parse(session.protocol(), Str::copy_from_slice(&text)) {
            Ok(Packet::PingUpgrade) => {
                socket
                    .send(WsMessage::Text(tungstenite::Utf8Bytes::from_static("3probe")))
                    .await
                    .map_err(drop)?;
                session.send_control(Frame::control("6")).map_err(drop)?;
            }
            Ok(Packet::Upgrade) => return Ok(()),
            _ => return Err(()),
        }
    }
}

/// The queue's receiving end, once the last poll has given it back (and no
/// POST is being read, so messages stay in order).
async fn take_receiver<D>(session: &Session<D>) -> Option<(Receiver<Frame>, Option<Frame>)> {
    for _ in 0..1000 {
        if !session.has_flag(POSTING) {
            if let Some(slot) = session.receiver().take() {
                return Some((slot.rx, slot.held));
            }
        }
        session.queue().wake_receiver();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    None
}

/// Reads, writes and beats until the session closes.
async fn serve<H, S>(
    engine: &Engine<H>,
    session: &Arc<Session<H::Data>>,
    socket: &mut S,
    rx: &mut Receiver<Frame>,
    held: Option<Frame>,
) where
    H: EngineHandler,
    S: Socket,
{
    let config = &engine.shared.config;
    let protocol = session.protocol();
    if let Some(frame) = held {
        if socket.send(into_message(frame, protocol)).await.is_err() {
            session.close(CloseReason::TransportError);
            return;
        }
    }
    let mut beat = Heartbeat::new(
        protocol,
        config.ping_interval,
        config.ping_timeout,
        Instant::now(),
    );
    let timer = sleep_until(beat.deadline());
    tokio::pin!(timer);
    loop {
        tokio::select! {
            biased;
            () = session.closed() => return,
            message = socket.next() => {
                if let Err(reason) = on_message(engine, session, message, &mut beat) {
                    session.close(reason);
                    return;
                }
                timer.as_mut().reset(beat.deadline());
            }
            first = rx.recv() => {
                let Some(first) = first else { return };
                let written = tokio::select! {
                    biased;
                    () = session.closed() => return,
                    written = write_batch(socket, first, rx, protocol) => written,
                };
                if written.is_err() {
                    session.close(CloseReason::TransportError);
                    return;
                }
            }
            () = &mut timer => {
                match beat.fired(Instant::now()) {
                    Beat::Wait => {}
                    Beat::Ping => {
                        let _ = session.send_control(Frame::control("2"));
                    }
                    Beat::Dead => {
                        session.close(CloseReason::PingTimeout);
                        return;
                    }
                }
                timer.as_mut().reset(beat.deadline());
            }
        }
    }
}

/// One message from the socket.
fn on_message<H: EngineHandler>(
    engine: &Engine<H>,
    session: &Arc<Session<H::Data>>,
    message: Option<Result<WsMessage, tungstenite::Error>>,
    beat: &mut Heartbeat,
) -> Result<(), CloseReason> {
    let packet = match message {
        None | Some(Ok(WsMessage::Close(_))) => return Err(CloseReason::TransportClose),
        Some(Err(tungstenite::Error::Capacity(_))) => return Err(CloseReason::PayloadTooLarge),
        Some(Err(error)) => {
            tracing::debug!(sid = %session.id(), %error, "websocket error");
            return Err(CloseReason::TransportError);
        }
        Some(Ok(WsMessage::Text(text))) => Packet::parse(session.protocol(), Str::copy_from_slice(&text))
            .map_err(|_| CloseReason::ParseError)?,
        Some(Ok(WsMessage::Binary(data))) => match session.protocol() {
            ProtocolVersion::V4 => Packet::Binary(data),
            // v3 binary frames carry the message type first.
            ProtocolVersion::V3 if data.first() == Some(&4) => Packet::BinaryV3(data.slice(1..)),
            ProtocolVersion::V3 => return Err(CloseReason::ParseError),
        },
        Some(Ok(_)) => return Ok(()),
    };
    if on_packet(engine.handler.as_ref(), session, packet)? == Inbound::Heard {
        beat.heard(Instant::now());
    }
    Ok(())
}

/// Writes `first` and whatever else is queued (up to a batch), then flushes
/// once.
async fn write_batch<S: Socket>(
    socket: &mut S,
    first: Frame,
    rx: &mut Receiver<Frame>,
    protocol: ProtocolVersion,
) -> Result<(), tungstenite::Error> {
    socket.feed(into_message(first, protocol)).await?;
    for _ in 1..WRITE_BATCH {
        match rx.try_recv() {
            Some(frame) => socket.feed(into_message(frame, protocol)).await?,
            None => break,
        }
    }
    socket.flush().await
}

/// A frame as a websocket message: text frames are a reference-count clone;
/// v3 binary frames are prefixed with the message type (4).
fn into_message(frame: Frame, protocol: ProtocolVersion) -> WsMessage {
    match frame.0 {
        Kind::Text(text) => WsMessage::Text(text),
        Kind::Binary(data) if protocol == ProtocolVersion::V3 => {
            let mut prefixed = BytesMut::with_capacity(data.len() + 1);
            prefixed.put_u8(4);
            prefixed.put_slice(&data);
            WsMessage::Binary(prefixed.freeze())
        }
        Kind::Binary(data) => WsMessage::Binary(data),
    }
}

/// Ends a closed session: what the server still had to say and the close
/// packet when the server closed it, then the close frame; then finishes it.
async fn end<H, S>(
    engine: &Engine<H>,
    session: &Arc<Session<H::Data>>,
    socket: &mut S,
    rx: &mut Receiver<Frame>,
) where
    H: EngineHandler,
    S: Socket,
{
    let protocol = session.protocol();
    if matches!(
        session.close_reason(),
        Some(CloseReason::ServerClose | CloseReason::ShuttingDown)
    ) {
        let flush = async {
            while let Some(frame) = rx.try_recv() {
                socket.feed(into_message(frame, protocol)).await?;
            }
            socket
                .feed(WsMessage::Text(tungstenite::Utf8Bytes::from_static("1")))
                .await?;
            socket.flush().await
        };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, flush).await;
    }
    end_without_queue(engine, session, socket).await;
}

async fn end_without_queue<H, S>(engine: &Engine<H>, session: &Arc<Session<H::Data>>, socket: &mut S)
where
    H: EngineHandler,
    S: Socket,
{
    engine.finish(session);
    engine.forget(session);
    let goodbye = async {
        match session.close_reason() {
            Some(CloseReason::TransportClose) => return,
            // As the raw front and Node's ws say it: 1009 "message too big".
            Some(CloseReason::PayloadTooLarge) => {
                let frame = CloseFrame {
                    code: CloseCode::Size,
                    reason: tungstenite::Utf8Bytes::from_static("message too big"),
                };
                let _ = socket.send(WsMessage::Close(Some(frame))).await;
            }
            _ => {}
        }
        let _ = socket.close().await;
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, goodbye).await;
}
