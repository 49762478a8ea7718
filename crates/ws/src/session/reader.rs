//! The reader half of a raw session: client frames become bus calls,
//! acks and errors; a resume or an `emit` runs in a task of its own.

use std::sync::Arc;

use futures_util::{Stream, StreamExt};
use serde_json::value::RawValue;
use sockgate_core::{
    resume, Args, BusError, ClientBus, ClientEvent, ErrorCode, EventHandler, Heard, RateVerdict, Sid,
    TokenBucket,
};
use tokio_tungstenite::tungstenite::{self, Message};

use super::depart;
use crate::control::{Control, Outbound, Waiter};
use crate::protocol::{self, ClientFrame, RequestId};
use crate::{CloseReason, WsConfig};
use sockgate_queue::{Sender, TrySendError};

/// Reads the client's frames and turns them into bus calls and replies.
pub(super) struct Reader<'a> {
    pub(super) metrics: &'a crate::WsMetrics,
    pub(super) rate: std::sync::Mutex<TokenBucket>,
    pub(super) sid: Sid,
    pub(super) bus: &'a dyn ClientBus,
    /// The same bus, for tasks that outlive a frame (resumes).
    pub(super) shared_bus: &'a Arc<dyn ClientBus>,
    pub(super) events: Option<&'a Arc<dyn EventHandler>>,
    pub(super) queue: Sender<Outbound>,
    pub(super) control: &'a Arc<Control>,
    pub(super) config: &'a WsConfig,
}

impl Reader<'_> {
    /// Reads until the client goes away. Once the session is closing, keeps
    /// draining (for at most `close_timeout`) so the client reads our close
    /// frame instead of a TCP reset.
    pub(super) async fn run<St>(self, mut stream: St)
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
        let result = match frame {
            ClientFrame::Join { room } => match self.bus.join(self.sid, &room) {
                Ok(joined) if !joined.heard.is_now() => {
                    self.answer_when_heard(joined.heard, id);
                    return;
                }
                joined => joined.map(drop),
            },
            ClientFrame::Leave { room } => self.bus.leave(self.sid, &room).map(drop),
            ClientFrame::Publish { room, event, args } => {
                self.bus.publish(Some(self.sid), &room, &event, args)
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
            ClientFrame::Emit { event, args } => {
                match args.check(self.config.payload) {
                    Ok(()) => self.forward(event, &args, id),
                    Err(error) => self.answer(id, Err(error.into())),
                }
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

    /// Acks a join once events published to its room on other nodes reach
    /// this node (a cluster node subscribes first), while this client's
    /// other frames go on being read.
    fn answer_when_heard(&self, heard: Heard, id: Option<RequestId>) {
        let Some(id) = id else { return };
        let (queue, control) = (self.queue.clone(), self.control.clone());
        tokio::spawn(async move {
            heard.await;
            reply(&queue, &control, protocol::ack_ok(&id));
        });
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
    fn forward(&self, event: String, args: &Args, id: Option<RequestId>) {
        let Some(events) = self.events else {
            let message = format!("no handler for event {event:?}");
            self.reply(protocol::failure(id.as_deref(), "no_handler", &message));
            return;
        };
        let args = args
            .iter()
            .map(|arg| serde_json::from_str(arg.get()).unwrap_or(serde_json::Value::Null))
            .collect();
        let call = events.on_event(ClientEvent {
            sid: self.sid,
            event,
            args,
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
