//! Client events that are not control events go to the backend (event
//! webhooks); its answer comes back as the client's ack, with every
//! argument and binary attachment kept.

use std::sync::Arc;

use serde_json::json;
use socketioxide::adapter::LocalAdapter;
use socketioxide::extract::AckSender;
use socketioxide::handler::{FromMessageParts, MessageHandler, Value};
use socketioxide::socket::Socket;
use sockgate_core::{ClientEvent, EventHandler};

use crate::bridge::{over_rate, to_bus_sid, Inline, SocketRate};
use crate::json::{decode_event, AckArgs};

/// The fallback handler: every event without a handler of its own.
pub(crate) struct EventForwarder {
    pub(crate) events: Option<Arc<dyn EventHandler>>,
    /// Events received, shared with the control events' count.
    pub(crate) received: Arc<std::sync::atomic::AtomicU64>,
    /// The socket's rate limit, shared with its control events.
    pub(crate) rate: SocketRate,
}

impl MessageHandler<LocalAdapter, Inline> for EventForwarder {
    fn call(&self, socket: Arc<Socket<LocalAdapter>>, mut value: Value, ack_id: Option<i64>) {
        self.received.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Ok(ack) = AckSender::from_message_parts(&socket, &mut value, &ack_id);
        if let Some(refusal) = over_rate(&self.rate, &socket) {
            let _ = ack.send(&refusal);
            return;
        }
        let Some((event, args)) = decode_event(&value) else {
            let _ = ack.send(&failure("bad_request", "the event is not a JSON array"));
            return;
        };
        let Some(events) = &self.events else {
            let _ = ack.send(&failure("no_handler", &format!("no handler for event {event:?}")));
            return;
        };
        let call = events.on_event(ClientEvent {
            sid: to_bus_sid(&socket),
            event,
            args,
        });
        // The backend answers in its own time; this socket's other events
        // are meanwhile handled as they come.
        tokio::spawn(async move {
            let _ = match call.await {
                Ok(args) => ack.send(&AckArgs(&args)),
                Err(error) => ack.send(&failure(error.code(), &error.to_string())),
            };
        });
    }
}

/// The ack of a failed event: `{ok:false, error:{code, message}}`.
fn failure(code: &str, message: &str) -> serde_json::Value {
    json!({ "ok": false, "error": { "code": code, "message": message } })
}
