//! Long-polling (Node's `transports/polling.ts`): a GET waits for queued
//! frames and takes them as one payload; a POST carries the client's
//! packets; a small timer task per session drives its heartbeat and ends it.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use engineioxide_core::{payload, PacketParseError};
use futures_util::StreamExt;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Response};
use http_body_util::BodyExt;
use tokio::time::{sleep_until, Instant};

use crate::engine::Engine;
use crate::error::Refusal;
use crate::frame::Frame;
use crate::heartbeat::{Beat, Heartbeat};
use crate::inbound::{on_packet, Inbound};
use crate::payload::{encode, size_hint, Framing};
use crate::session::{PollSlot, State, CLOSE_SENT, HEARD, POSTING, PROBED};
use crate::{CloseReason, EngineHandler, Session};

/// Longest a closed session waits for the client's last poll (a client
/// polls again as soon as a poll returns, so this is generous).
const LAST_POLL_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Puts the receiver back in its slot when the GET ends, however it ends
/// (a client that drops the connection drops the GET's future).
struct SlotGuard<'a, D> {
    session: &'a Session<D>,
    slot: Option<PollSlot>,
}

impl<D> Drop for SlotGuard<'_, D> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            *self.session.receiver() = Some(slot);
        }
    }
}

/// A GET: waits for at least one frame (or the end of polling), then
/// answers with every queued frame that fits in `max_payload`.
pub(crate) async fn get<D>(session: &Session<D>, max_payload: u64) -> Response<Bytes> {
    let Some(slot) = session.receiver().take() else {
        // Node: "overlap from client".
        session.close(CloseReason::TransportError);
        return Refusal::BadRequest.into_response();
    };
    let mut guard = SlotGuard {
        session,
        slot: Some(slot),
    };
    let first = poll_fn(|cx| {
        let Some(slot) = guard.slot.as_mut() else {
            return Poll::Ready(None);
        };
        if let Some(frame) = slot.held.take() {
            return Poll::Ready(Some(frame));
        }
        // Write boundaries mean nothing to polling: skipped.
        let mut polled = slot.rx.poll_recv(cx);
        while matches!(&polled, Poll::Ready(Some(frame)) if frame.is_boundary()) {
            polled = slot.rx.poll_recv(cx);
        }
        match polled {
            Poll::Ready(frame) => Poll::Ready(frame),
            // Closed, upgraded or probed: the poll returns so the client
            // moves on (or pauses polling).
            Poll::Pending if matches!(session.state(), State::Closed | State::Websocket) => Poll::Ready(None),
            Poll::Pending if session.has_flag(PROBED) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    })
    .await;
    let mut frames = Vec::new();
    if let (Some(first), Some(slot)) = (first, guard.slot.as_mut()) {
        let max = usize::try_from(max_payload).unwrap_or(usize::MAX);
        let mut size = size_hint(&first);
        frames.push(first);
        // A frame that does not fit waits for the next GET; the first
        // goes whatever its size, so that nothing is ever stuck.
        while let Some(frame) = slot.rx.try_recv() {
            if frame.is_boundary() {
                continue;
            }
            let next = size_hint(&frame);
            if size.saturating_add(next) > max {
                slot.held = Some(frame);
                break;
            }
            size += next;
            frames.push(frame);
        }
    }
    let drained = guard
        .slot
        .as_ref()
        .is_some_and(|slot| slot.held.is_none() && slot.rx.backlog() == 0);
    match session.state() {
        State::Closed if drained => {
            // Node: a client's own close ends its pending poll with a noop,
            // any other close with the close packet.
            let last = match session.close_reason() {
                Some(CloseReason::ForcedClose) => "6",
                _ => "1",
            };
            frames.push(Frame::control(last));
            session.set_flag(CLOSE_SENT);
            session.driver.notify_one();
        }
        // The upgrade completed while this GET waited: a noop lets the
        // client's paused polling finish.
        State::Websocket if frames.is_empty() => frames.push(Frame::control("6")),
        State::Upgrading if frames.is_empty() && session.has_flag(PROBED) => frames.push(Frame::control("6")),
        _ => {}
    }
    drop(guard);
    let framing = Framing::choose(session.protocol(), session.b64(), &frames);
    let body = encode(framing, &frames);
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(framing.content_type()));
    response
}

/// A POST: hands each packet of the payload to the session, in order; `ok`
/// as Node answers.
pub(crate) async fn post<H, B>(
    engine: &Engine<H>,
    session: &Arc<Session<H::Data>>,
    req: http::Request<B>,
) -> Response<Bytes>
where
    H: EngineHandler,
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: std::fmt::Display,
{
    let max_payload = engine.shared.config.max_payload;
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max_payload) {
        session.close(CloseReason::PayloadTooLarge);
        return Refusal::PayloadTooLarge.into_response();
    }
    if !session.set_flag(POSTING) {
        // Node: "data request overlap from client".
        session.close(CloseReason::TransportError);
        return Refusal::BadRequest.into_response();
    }
    let refusal = read_packets(engine, session, req, max_payload).await;
    session.take_flag(POSTING);
    if let Some((reason, refusal)) = refusal {
        session.close(reason);
        return refusal.into_response();
    }
    let mut response = Response::new(Bytes::from_static(b"ok"));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
    response
}

async fn read_packets<H, B>(
    engine: &Engine<H>,
    session: &Arc<Session<H::Data>>,
    req: http::Request<B>,
    max_payload: u64,
) -> Option<(CloseReason, Refusal)>
where
    H: EngineHandler,
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: std::fmt::Display,
{
    let content_type = req.headers().get(CONTENT_TYPE).cloned();
    let body = req.into_body().map_err(|error| error.to_string());
    let packets = payload::decoder(body, content_type.as_ref(), session.protocol(), max_payload);
    let mut packets = std::pin::pin!(packets);
    while let Some(packet) = packets.next().await {
        if session.is_closed() {
            return None;
        }
        let packet = match packet {
            Ok(packet) => packet,
            Err(PacketParseError::PayloadTooLarge { .. }) => {
                return Some((CloseReason::PayloadTooLarge, Refusal::PayloadTooLarge))
            }
            Err(error) => {
                tracing::debug!(sid = %session.id(), %error, "malformed payload");
                return Some((CloseReason::ParseError, Refusal::BadRequest));
            }
        };
        match on_packet(engine.handler.as_ref(), session, packet) {
            Ok(Inbound::Done) => {}
            Ok(Inbound::Heard) => {
                session.set_flag(HEARD);
                session.driver.notify_one();
            }
            Err(reason) => {
                session.close(reason);
                return None;
            }
        }
    }
    None
}

/// The timer task of a polling session: its heartbeat, until the session
/// closes (then it finishes it) or moves to websocket (then the websocket
/// task drives it).
pub(crate) async fn drive<H: EngineHandler>(engine: Arc<Engine<H>>, session: Arc<Session<H::Data>>) {
    let config = &engine.shared.config;
    let mut beat = Heartbeat::new(
        session.protocol(),
        config.ping_interval,
        config.ping_timeout,
        Instant::now(),
    );
    loop {
        let notified = session.driver.notified();
        match session.state() {
            State::Websocket => return,
            State::Closed => break,
            State::Polling | State::Upgrading => {}
        }
        if session.take_flag(HEARD) {
            beat.heard(Instant::now());
        }
        tokio::select! {
            () = notified => {}
            () = sleep_until(beat.deadline()) => match beat.fired(Instant::now()) {
                Beat::Wait => {}
                Beat::Ping => {
                    let _ = session.send_control(Frame::control("2"));
                }
                Beat::Dead => session.close(CloseReason::PingTimeout),
            },
        }
    }
    engine.finish(&session);
    // A client told to go (server close, shutdown) gets the close packet
    // from its next poll, as from Node's, a client that closed gets a noop;
    // then the sid is forgotten.
    if session.awaits_last_poll() {
        let deadline = Instant::now() + config.ping_timeout.min(LAST_POLL_WAIT);
        while !session.has_flag(CLOSE_SENT) {
            let notified = session.driver.notified();
            if session.has_flag(CLOSE_SENT) {
                break;
            }
            tokio::select! {
                () = notified => {}
                () = sleep_until(deadline) => break,
            }
        }
    }
    engine.forget(&session);
}
