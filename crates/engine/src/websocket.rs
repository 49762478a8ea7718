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
use crate::session::{State, POSTING, PROBED};
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
    session.take_flag(PROBED);
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
/// pending poll, if any) and `5`. Anything else, or a closed session, fails it.
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
                // From now on a poll with nothing to send gets a noop at
                // once (Node checks every 100 ms), so the client can pause
                // polling; none is queued when no poll is pending (a GET
                // holds the slot), or it would reach the client later,
                // over the websocket.
                session.set_flag(PROBED);
                let poll_pending = session.receiver().is_none();
                if poll_pending {
                    session.send_control(Frame::control("6")).map_err(drop)?;
                }
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
    if let Some(message) = held.and_then(|frame| into_message(frame, protocol)) {
        if socket.send(message).await.is_err() {
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
                match written {
                    Err(_) => {
                        session.close(CloseReason::TransportError);
                        return;
                    }
                    // Past a write boundary, the runtime polls the socket
                    // driver before the next write, as Node's event loop
                    // runs once between a write and the next one.
                    Ok(Written::ToBoundary) => tokio::task::yield_now().await,
                    Ok(Written::All) => {}
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

/// Where a [`write_batch`] stopped.
enum Written {
    /// At the end of the queue, or of a batch.
    All,
    /// At a [`Frame::boundary`]: what follows goes in a write of its own.
    ToBoundary,
}

/// Writes `first` and whatever else is queued (up to a batch, or up to a
/// [`Frame::boundary`]), then flushes once.
async fn write_batch<S: Socket>(
    socket: &mut S,
    first: Frame,
    rx: &mut Receiver<Frame>,
    protocol: ProtocolVersion,
) -> Result<Written, tungstenite::Error> {
    let mut frame = first;
    for written in 1..=WRITE_BATCH {
        let Some(message) = into_message(frame, protocol) else {
            socket.flush().await?;
            return Ok(Written::ToBoundary);
        };
        socket.feed(message).await?;
        if written == WRITE_BATCH {
            break;
        }
        match rx.try_recv() {
            Some(next) => frame = next,
            None => break,
        }
    }
    socket.flush().await?;
    Ok(Written::All)
}

/// A frame as a websocket message (`None` for a write boundary): text
/// frames are a reference-count clone; v3 binary frames are prefixed with
/// the message type (4).
fn into_message(frame: Frame, protocol: ProtocolVersion) -> Option<WsMessage> {
    Some(match frame.0 {
        Kind::Text(text) => WsMessage::Text(text),
        Kind::Binary(data) if protocol == ProtocolVersion::V3 => {
            let mut prefixed = BytesMut::with_capacity(data.len() + 1);
            prefixed.put_u8(4);
            prefixed.put_slice(&data);
            WsMessage::Binary(prefixed.freeze())
        }
        Kind::Binary(data) => WsMessage::Binary(data),
        Kind::Boundary => return None,
    })
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
                if let Some(message) = into_message(frame, protocol) {
                    socket.feed(message).await?;
                }
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

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use super::*;

    /// A socket that records each flushed write as the texts it carried.
    #[derive(Default)]
    struct Recorder {
        fed: Vec<String>,
        writes: Vec<Vec<String>>,
    }

    impl Stream for Recorder {
        type Item = Result<WsMessage, tungstenite::Error>;
        fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            Poll::Pending
        }
    }

    impl Sink<WsMessage> for Recorder {
        type Error = tungstenite::Error;
        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn start_send(mut self: Pin<&mut Self>, item: WsMessage) -> Result<(), Self::Error> {
            self.fed
                .push(item.into_text().map(|t| t.to_string()).unwrap_or_default());
            Ok(())
        }
        fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            if !self.fed.is_empty() {
                let fed = std::mem::take(&mut self.fed);
                self.writes.push(fed);
            }
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn frames_behind_a_boundary_go_in_a_write_of_their_own() {
        let (tx, mut rx) = sockgate_queue::bounded(16);
        for frame in [
            Frame::text("0{\"sid\":\"a\"}"),
            Frame::boundary(),
            Frame::text("2[\"auth\",{}]"),
            Frame::text("2[\"more\"]"),
        ] {
            tx.try_send(frame).unwrap();
        }
        let mut socket = Recorder::default();
        let first = rx.try_recv().unwrap();
        let written = write_batch(&mut socket, first, &mut rx, ProtocolVersion::V4).await;
        assert!(matches!(written, Ok(Written::ToBoundary)));
        let first = rx.try_recv().unwrap();
        let written = write_batch(&mut socket, first, &mut rx, ProtocolVersion::V4).await;
        assert!(matches!(written, Ok(Written::All)));
        assert_eq!(
            socket.writes,
            [
                vec!["40{\"sid\":\"a\"}".to_owned()],
                vec!["42[\"auth\",{}]".to_owned(), "42[\"more\"]".to_owned()],
            ]
        );
    }

    #[test]
    fn a_boundary_is_nothing_in_a_polling_payload() {
        let frames = [Frame::text("1"), Frame::boundary(), Frame::text("2")];
        let payload = crate::payload::encode(crate::payload::Framing::V4, &frames);
        assert_eq!(payload.as_ref(), b"41\x1e42");
    }
}
