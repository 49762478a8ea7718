//! Events from socket.io clients, handled in the order the client sent
//! them: the control events (`join`, `leave`, `publish`, `resume`, named
//! by `[events]`) go onto the bus; every other event goes to the backend
//! (event webhooks), whose answer is the client's ack.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Value};
use sockgate_core::{Args, BusError, ClientEvent, ErrorCode, Heard, RateVerdict};

use super::dispatch::Dispatch;
use super::resume;
use super::socket::Socket;
use crate::json::decode_event;

/// Handles one event packet; `ack` is the id the client waits on, if any.
pub(crate) fn on_event(
    server: &Dispatch,
    socket: &Arc<Socket>,
    value: socketioxide_core::Value,
    ack: Option<i64>,
) {
    server
        .counters
        .events_in
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let answer = |args: &[Value]| {
        if let Some(id) = ack {
            socket.ack(id, args);
        }
    };
    match socket.take_rate() {
        RateVerdict::Allowed => {}
        RateVerdict::Refused => {
            return answer(&[failure(
                ErrorCode::RateLimited.as_str(),
                "too many events: slow down (limits.messages_per_second)",
            )]);
        }
        RateVerdict::Exceeded => {
            answer(&[failure(ErrorCode::RateLimited.as_str(), "disconnected")]);
            socket.disconnect_by_server("server namespace disconnect");
            return;
        }
    }
    let Some((event, args)) = decode_event(&value) else {
        // Not `[name, ...args]`: Node's socket.io closes the connection.
        socket.close_session(sockgate_engine::CloseReason::ParseError);
        return;
    };
    let Some(link) = server.link.get() else {
        return answer(&[failure("unavailable", "the server is starting")]);
    };
    let names = &server.config.events;
    if ![&names.join, &names.leave, &names.publish, &names.resume].contains(&&event) {
        forward(server, socket, event, args, ack);
        return;
    }
    let first = args.into_iter().next();
    let bus = link.bus.as_ref();
    let outcome = if event == names.join {
        match room_arg(first).and_then(|room| bus.join(socket.id(), &room).map_err(Refusal::from)) {
            Ok(joined) if !joined.heard.is_now() => {
                answer_when_heard(joined.heard, socket.clone(), ack);
                return;
            }
            joined => joined.map(drop),
        }
    } else if event == names.leave {
        room_arg(first).and_then(|room| bus.leave(socket.id(), &room).map(drop).map_err(Refusal::from))
    } else if event == names.publish {
        publish(bus, socket, first)
    } else {
        resume::on_resume(socket, link.bus.clone(), first, ack);
        return;
    };
    answer(&[match outcome {
        Ok(()) => json!({ "ok": true }),
        Err(refusal) => failure(refusal.code.as_str(), &refusal.message),
    }]);
}

/// Hands a client event to the backend; its answer (or failure) is the ack.
fn forward(server: &Dispatch, socket: &Arc<Socket>, event: String, args: Vec<Value>, ack: Option<i64>) {
    let Some(events) = server.link.get().and_then(|link| link.events.clone()) else {
        if let Some(id) = ack {
            socket.ack(
                id,
                &[failure("no_handler", &format!("no handler for event {event:?}"))],
            );
        }
        return;
    };
    let call = events.on_event(ClientEvent {
        sid: socket.id(),
        event,
        args,
    });
    // The backend answers in its own time; this socket's other events are
    // meanwhile handled as they come.
    let socket = socket.clone();
    tokio::spawn(async move {
        let outcome = call.await;
        if let Some(id) = ack {
            match outcome {
                Ok(args) => socket.ack(id, &args),
                Err(error) => socket.ack(id, &[failure(error.code(), &error.to_string())]),
            }
        }
    });
}

/// Acks a join once events published to its room on other nodes reach
/// this node (a cluster node subscribes first).
fn answer_when_heard(heard: Heard, socket: Arc<Socket>, ack: Option<i64>) {
    tokio::spawn(async move {
        heard.await;
        if let Some(id) = ack {
            socket.ack(id, &[json!({ "ok": true })]);
        }
    });
}

/// The ack of a failed event: `{ok:false, error:{code, message}}`.
fn failure(code: &str, message: &str) -> Value {
    json!({ "ok": false, "error": { "code": code, "message": message } })
}

/// Why a control event was refused, as sent in its ack.
struct Refusal {
    code: ErrorCode,
    message: String,
}

impl From<BusError> for Refusal {
    fn from(error: BusError) -> Self {
        Refusal {
            code: error.code(),
            message: error.to_string(),
        }
    }
}

fn bad_request(message: impl Into<String>) -> Refusal {
    Refusal {
        code: ErrorCode::BadRequest,
        message: message.into(),
    }
}

fn room_arg(arg: Option<Value>) -> Result<String, Refusal> {
    match arg {
        Some(Value::String(room)) => Ok(room),
        _ => Err(bad_request("expected the room name as a string argument")),
    }
}

/// The argument of the publish event: `{room, event, data}` for one
/// argument, `{room, event, args: […]}` for any number.
#[derive(Deserialize)]
struct PublishArgs {
    room: String,
    event: String,
    #[serde(default, deserialize_with = "sockgate_core::given")]
    data: Option<Value>,
    #[serde(default)]
    args: Option<Vec<Value>>,
}

fn publish(bus: &dyn sockgate_core::ClientBus, socket: &Socket, arg: Option<Value>) -> Result<(), Refusal> {
    let publish: PublishArgs = serde_json::from_value(arg.unwrap_or_default()).map_err(|e| {
        bad_request(format!(
            "expected {{room, event, data}} or {{room, event, args: [...]}}: {e}"
        ))
    })?;
    let to_json =
        |value: Value| serde_json::value::to_raw_value(&value).map_err(|e| bad_request(e.to_string()));
    let data = publish.data.map(to_json).transpose()?;
    let list = publish
        .args
        .map(|list| list.into_iter().map(to_json).collect::<Result<Vec<_>, _>>())
        .transpose()?;
    let args = Args::from_data_or_args(data, list).map_err(|e| bad_request(e.to_string()))?;
    bus.publish(Some(socket.id()), &publish.room, &publish.event, args)?;
    Ok(())
}
