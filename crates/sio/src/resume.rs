//! Missed-message recovery for socket.io clients (see `docs/recovery.md`).
//!
//! When some rooms keep a history, each socket gets a resume token in a
//! `sockgate:session` event right after it connects. A client that comes
//! back presents it, with the position of the last event it got in each
//! room, either in its handshake `auth` payload (`{resume: {token, rooms}}`,
//! answered by a `sockgate:resumed` event) or in a `resume` control event
//! (answered by its ack, and the only way for socket.io-client 2.x, which
//! has no `auth`). Events of recoverable rooms carry their position as an
//! extra argument after the last one, which listeners written for the
//! event's own arguments (`(data) => …`) never see.

use std::sync::Arc;

use serde_json::json;
use socketioxide::adapter::LocalAdapter;
use socketioxide::extract::{AckSender, TryData};
use socketioxide::handler::{FromMessageParts, Value};
use socketioxide::socket::Socket;
use sockgate_core::{resume, ClientBus, ResumeRequest};

use crate::bridge::to_bus_sid;

/// The event that hands a connected socket its resume token.
pub(crate) const SESSION_EVENT: &str = "sockgate:session";
/// The event that answers a resume asked for in the handshake `auth`.
pub(crate) const RESUMED_EVENT: &str = "sockgate:resumed";

/// Right after CONNECT: hands out the socket's resume token, and resumes
/// when the handshake `auth` payload asked to.
pub(crate) fn after_connect(
    socket: &Arc<Socket<LocalAdapter>>,
    bus: &Arc<dyn ClientBus>,
    auth: Option<&serde_json::Value>,
) {
    let sid = to_bus_sid(socket);
    let Some(token) = bus.connection(sid).and_then(|c| c.meta.resume_token) else {
        return;
    };
    let _ = socket.emit(SESSION_EVENT, &json!({ "resume": &*token }));
    let Some(request) = auth.and_then(|auth| auth.get("resume")) else {
        return;
    };
    let request = serde_json::from_value::<ResumeRequest>(request.clone());
    let (socket, bus) = (socket.clone(), bus.clone());
    tokio::spawn(async move {
        let report = match request {
            Ok(request) => json!(run(&socket, bus.as_ref(), &request).await),
            Err(error) => {
                json!({ "error": { "code": "bad_request", "message": format!("auth.resume: {error}") } })
            }
        };
        let _ = socket.emit(RESUMED_EVENT, &report);
    });
}

/// The `resume` control event: `{token, rooms}`; the answer is its ack.
pub(crate) fn on_resume(
    socket: &Arc<Socket<LocalAdapter>>,
    bus: &Arc<dyn ClientBus>,
    value: &mut Value,
    ack: AckSender<LocalAdapter>,
) {
    let Ok(TryData(request)) = TryData::<ResumeRequest>::from_message_parts(socket, value, &None);
    let request = match request {
        Ok(request) => request,
        Err(error) => {
            let _ = ack.send(&json!({
                "ok": false,
                "error": { "code": "bad_request", "message": format!("expected {{token, rooms}}: {error}") },
            }));
            return;
        }
    };
    let (socket, bus) = (socket.clone(), bus.clone());
    tokio::spawn(async move {
        let report = run(&socket, bus.as_ref(), &request).await;
        let _ = ack.send(&json!({ "ok": true, "session": report.session, "rooms": report.rooms }));
    });
}

async fn run(
    socket: &Arc<Socket<LocalAdapter>>,
    bus: &dyn ClientBus,
    request: &ResumeRequest,
) -> sockgate_core::ResumeReport {
    let sid = to_bus_sid(socket);
    let user = bus.connection(sid).and_then(|c| c.meta.user);
    resume(bus, sid, user.as_deref(), request).await
}
